//! The catalog: image records in SQLite (embedded default) or PostgreSQL (scale-out), through
//! sqlx's Any driver so one set of queries serves both.
//!
//! Portability rules the queries keep: `$N` placeholders (SQLite accepts them too), BIGINT for
//! every number and flag, sums cast to BIGINT (PostgreSQL would answer NUMERIC), and every
//! writing transaction starts by taking the write lock (`BEGIN IMMEDIATE` on SQLite, a row lock
//! on PostgreSQL) so concurrent writers queue instead of failing on a stale snapshot.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::ImageRecord;
use crate::error::{Error, ErrorKind, Result};

/// Versioned migrations, applied in order, each once, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE images (
        id TEXT PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        folder TEXT NOT NULL,
        name TEXT NOT NULL,
        original_name TEXT,
        blob_key TEXT NOT NULL,
        mime TEXT NOT NULL,
        format TEXT NOT NULL,
        size BIGINT NOT NULL,
        width BIGINT NOT NULL,
        height BIGINT NOT NULL,
        md5 TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        phash TEXT,
        title TEXT,
        description TEXT,
        album_id TEXT,
        category_id TEXT,
        custom_coordinates TEXT,
        is_private BIGINT NOT NULL,
        nsfw BIGINT NOT NULL,
        account TEXT NOT NULL,
        expires_at BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX images_folder ON images (folder, created_at);
    CREATE INDEX images_account ON images (account);
    CREATE INDEX images_sha256 ON images (sha256);
    CREATE INDEX images_expires_at ON images (expires_at);
    CREATE TABLE image_tags (
        image_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (image_id, tag)
    );
    CREATE INDEX image_tags_tag ON image_tags (tag);",
    ),
    // API keys live in the catalog so every server sharing it knows them; only a hash is kept.
    (
        2,
        "CREATE TABLE api_keys (
        key_hash TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL
    )",
    ),
];

const COLUMNS: &str = "id, path, folder, name, original_name, blob_key, mime, format, size, width, \
    height, md5, sha256, phash, title, description, album_id, category_id, custom_coordinates, \
    is_private, nsfw, account, expires_at, created_at, updated_at";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    pool: AnyPool,
    dialect: Dialect,
}

/// What a write replaced: the blob and content the old record pointed at.
#[derive(Debug, Clone)]
pub(crate) struct Replaced {
    pub blob_key: String,
    pub sha256: String,
}

/// Filters of [`Catalog::list`]; see [`super::ListQuery`].
pub(crate) struct ListFilter<'a> {
    pub folder: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub account: Option<&'a str>,
    pub limit: u32,
    pub offset: u64,
}

fn db_error(context: &str, err: sqlx::Error) -> Error {
    Error::new(
        ErrorKind::StorageUnavailable,
        format!("catalog: {context}: {err}"),
    )
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn bad_setting(setting: &str, why: impl std::fmt::Display) -> Error {
    Error::for_parameter(
        ErrorKind::InvalidParameter,
        "catalog",
        format!("catalog setting '{setting}': {why}"),
    )
}

impl Catalog {
    /// Connects and migrates. `sqlite://FILE` creates the file (and its folder) when missing.
    pub async fn open(setting: &str, max_connections: u32) -> Result<Catalog> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if let Some(file) = setting.strip_prefix("sqlite://") {
            let path = file.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(bad_setting(setting, "sqlite:// needs a file"));
            }
            if path != ":memory:"
                && let Some(parent) = std::path::Path::new(path).parent()
            {
                std::fs::create_dir_all(parent).map_err(|e| bad_setting(setting, e))?;
            }
            let url = if setting.contains("mode=") {
                setting.to_owned()
            } else {
                let sep = if setting.contains('?') { '&' } else { '?' };
                format!("{setting}{sep}mode=rwc")
            };
            (Dialect::Sqlite, url)
        } else if setting.starts_with("postgres://") || setting.starts_with("postgresql://") {
            (Dialect::Postgres, setting.to_owned())
        } else {
            return Err(bad_setting(
                setting,
                "expected sqlite://FILE or postgres://USER@HOST:PORT/DB",
            ));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .map_err(|e| db_error("connecting", e))?;
        let catalog = Catalog { pool, dialect };
        catalog.migrate().await?;
        Ok(catalog)
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let begin = match self.dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        self.pool
            .begin_with(begin)
            .await
            .map_err(|e| db_error("starting a transaction", e))
    }

    /// ` FOR UPDATE` where row locks exist; SQLite's write lock already covers the database.
    fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS picsmith_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("creating the migrations table", e))?;
        for &(version, sql) in MIGRATIONS {
            let mut tx = self.begin_write().await?;
            // Claiming the version first makes a second server starting at the same moment wait
            // here, then find the version taken and skip it.
            let claimed = sqlx::query(
                "INSERT INTO picsmith_migrations (version, applied_at) VALUES ($1, $2)",
            )
            .bind(version)
            .bind(super::now_ms())
            .execute(&mut *tx)
            .await;
            match claimed {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(db_error("recording a migration", e)),
            }
            for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_error(&format!("migration {version}"), e))?;
            }
            tx.commit()
                .await
                .map_err(|e| db_error("committing a migration", e))?;
        }
        Ok(())
    }

    /// Inserts a new record; `Ok(false)` when its path is taken (nothing is written then).
    pub async fn insert(&self, record: &ImageRecord, blob_key: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        match insert_row(&mut tx, record, blob_key).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(db_error("inserting an image", e)),
        }
        write_tags(&mut tx, &record.id, &record.tags).await?;
        tx.commit()
            .await
            .map_err(|e| db_error("committing an image", e))?;
        Ok(true)
    }

    /// Writes `record` at its path, replacing the record there if any. The replaced record keeps
    /// its id and creation time (they are copied into `record`), and its tags are exactly the
    /// new ones, as ImageKit's overwrite does.
    pub async fn replace(
        &self,
        record: &mut ImageRecord,
        blob_key: &str,
    ) -> Result<Option<Replaced>> {
        // Two writers of a new path on PostgreSQL can both find it free; the loser's insert
        // fails on the unique path and its second round finds the winner's row.
        for _ in 0..5 {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT id, blob_key, sha256, created_at, account FROM images WHERE path = $1{}",
                self.for_update()
            );
            let old = sqlx::query(built(sql))
                .bind(&record.path)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_error("looking up a path", e))?;
            let replaced = match old {
                Some(row) => {
                    let owner: String = row
                        .try_get("account")
                        .map_err(|e| db_error("reading account", e))?;
                    if owner != record.account {
                        return Err(Error::for_parameter(
                            ErrorKind::Forbidden,
                            "path",
                            format!("{} belongs to another account", record.path),
                        ));
                    }
                    record.id = row.try_get("id").map_err(|e| db_error("reading id", e))?;
                    record.created_at = row
                        .try_get("created_at")
                        .map_err(|e| db_error("reading created_at", e))?;
                    let replaced = Replaced {
                        blob_key: row
                            .try_get("blob_key")
                            .map_err(|e| db_error("reading blob_key", e))?,
                        sha256: row
                            .try_get("sha256")
                            .map_err(|e| db_error("reading sha256", e))?,
                    };
                    // Updated in place, so a writer queued on this row's lock finds it again.
                    update_row(&mut tx, record, blob_key)
                        .await
                        .map_err(|e| db_error("replacing an image", e))?;
                    sqlx::query("DELETE FROM image_tags WHERE image_id = $1")
                        .bind(&record.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| db_error("replacing tags", e))?;
                    Some(replaced)
                }
                None => {
                    match insert_row(&mut tx, record, blob_key).await {
                        Ok(()) => {}
                        Err(e) if is_unique_violation(&e) => continue,
                        Err(e) => return Err(db_error("writing an image", e)),
                    }
                    None
                }
            };
            write_tags(&mut tx, &record.id, &record.tags).await?;
            tx.commit()
                .await
                .map_err(|e| db_error("committing an image", e))?;
            return Ok(replaced);
        }
        Err(Error::new(
            ErrorKind::StorageUnavailable,
            format!(
                "catalog: {} is being written by others; try again",
                record.path
            ),
        ))
    }

    pub async fn get(&self, id: &str) -> Result<Option<(ImageRecord, String)>> {
        self.fetch_one("id", id).await
    }

    pub async fn get_by_path(&self, path: &str) -> Result<Option<(ImageRecord, String)>> {
        self.fetch_one("path", path).await
    }

    async fn fetch_one(&self, column: &str, value: &str) -> Result<Option<(ImageRecord, String)>> {
        let sql = format!("SELECT {COLUMNS} FROM images WHERE {column} = $1");
        let row = sqlx::query(built(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error("reading an image", e))?;
        let Some(row) = row else { return Ok(None) };
        let mut found = vec![from_row(&row)?];
        self.attach_tags(&mut found).await?;
        Ok(found.pop())
    }

    /// Records with these ids (missing ids are left out), in the order given.
    pub async fn get_many(&self, ids: &[String]) -> Result<Vec<(ImageRecord, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM images WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(built(sql));
        for id in ids {
            query = query.bind(id);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error("reading images", e))?;
        let mut found = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        self.attach_tags(&mut found).await?;
        found.sort_by_key(|(r, _)| ids.iter().position(|id| *id == r.id));
        Ok(found)
    }

    /// Deletes the records with these ids and answers what they were; when one id has no
    /// record, nothing is deleted.
    pub async fn delete(&self, ids: &[String]) -> Result<Vec<(ImageRecord, String)>> {
        let mut tx = self.begin_write().await?;
        let list = placeholders(1, ids.len());
        let sql = format!(
            "SELECT {COLUMNS} FROM images WHERE id IN ({list}){}",
            self.for_update()
        );
        let mut query = sqlx::query(built(sql));
        for id in ids {
            query = query.bind(id);
        }
        let rows = query
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_error("reading images", e))?;
        let mut found = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        // Checked under the lock: of two concurrent deletes of one id, exactly one succeeds.
        require_all(ids, &found)?;
        for (record, _) in &found {
            sqlx::query("DELETE FROM image_tags WHERE image_id = $1")
                .bind(&record.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("deleting tags", e))?;
            sqlx::query("DELETE FROM images WHERE id = $1")
                .bind(&record.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("deleting an image", e))?;
        }
        tx.commit()
            .await
            .map_err(|e| db_error("committing a delete", e))?;
        found.sort_by_key(|(r, _)| ids.iter().position(|id| *id == r.id));
        Ok(found)
    }

    /// Sets the tags of the images `ids` to what `edit` makes of their current tags, all or
    /// nothing: when an id has no record or `edit` refuses one image, no image changes.
    pub async fn edit_tags(
        &self,
        ids: &[String],
        edit: impl Fn(&ImageRecord) -> Result<Vec<String>>,
    ) -> Result<Vec<ImageRecord>> {
        let mut tx = self.begin_write().await?;
        let list = placeholders(1, ids.len());
        let sql = format!(
            "SELECT {COLUMNS} FROM images WHERE id IN ({list}){}",
            self.for_update()
        );
        let mut query = sqlx::query(built(sql));
        for id in ids {
            query = query.bind(id);
        }
        let rows = query
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_error("reading images", e))?;
        let mut found = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        require_all(ids, &found)?;
        attach_tags_with(&mut tx, &mut found).await?;
        let now = super::now_ms();
        let mut updated = Vec::with_capacity(found.len());
        for (mut record, _) in found {
            let tags = edit(&record)?;
            sqlx::query("DELETE FROM image_tags WHERE image_id = $1")
                .bind(&record.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("editing tags", e))?;
            write_tags(&mut tx, &record.id, &tags).await?;
            sqlx::query("UPDATE images SET updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&record.id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("editing tags", e))?;
            record.tags = tags;
            record.updated_at = now;
            updated.push(record);
        }
        tx.commit()
            .await
            .map_err(|e| db_error("committing tags", e))?;
        updated.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
        Ok(updated)
    }

    /// One page of records, newest first, and the number of records matching in all.
    pub async fn list(&self, filter: &ListFilter<'_>) -> Result<(Vec<ImageRecord>, u64)> {
        let mut conditions = Vec::new();
        let mut values: Vec<&str> = Vec::new();
        if let Some(folder) = filter.folder {
            values.push(folder);
            conditions.push(format!("folder = ${}", values.len()));
        }
        if let Some(account) = filter.account {
            values.push(account);
            conditions.push(format!("account = ${}", values.len()));
        }
        if let Some(tag) = filter.tag {
            values.push(tag);
            conditions.push(format!(
                "id IN (SELECT image_id FROM image_tags WHERE tag = ${})",
                values.len()
            ));
        }
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let count_sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM images{clause}");
        let mut count = sqlx::query(built(count_sql));
        for v in &values {
            count = count.bind(*v);
        }
        let total: i64 = count
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(|e| db_error("counting images", e))?;
        let page_sql = format!(
            "SELECT {COLUMNS} FROM images{clause} ORDER BY created_at DESC, id LIMIT {} OFFSET {}",
            filter.limit, filter.offset
        );
        let mut page = sqlx::query(built(page_sql));
        for v in &values {
            page = page.bind(*v);
        }
        let rows = page
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error("listing images", e))?;
        let mut found = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        self.attach_tags(&mut found).await?;
        Ok((found.into_iter().map(|(r, _)| r).collect(), total as u64))
    }

    /// Number of images and their total bytes, for one account or for all.
    pub async fn usage(&self, account: Option<&str>) -> Result<(u64, u64)> {
        let sql = match account {
            Some(_) => {
                "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM images WHERE account = $1"
            }
            None => {
                "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM images"
            }
        };
        let mut query = sqlx::query(sql);
        if let Some(account) = account {
            query = query.bind(account);
        }
        let row = query
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error("measuring usage", e))?;
        let n: i64 = row
            .try_get("n")
            .map_err(|e| db_error("measuring usage", e))?;
        let bytes: i64 = row
            .try_get("bytes")
            .map_err(|e| db_error("measuring usage", e))?;
        Ok((n as u64, bytes as u64))
    }

    /// Ids of the records that expired at or before `now_ms`.
    pub async fn expired(&self, now_ms: i64) -> Result<Vec<String>> {
        sqlx::query("SELECT id FROM images WHERE expires_at IS NOT NULL AND expires_at <= $1")
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(|r| r.try_get::<String, _>("id")).collect())
            .map_err(|e| db_error("finding expired images", e))
    }

    /// Every blob key a record points at.
    pub async fn blob_keys(&self) -> Result<std::collections::HashSet<String>> {
        sqlx::query("SELECT blob_key FROM images")
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| {
                rows.iter()
                    .map(|r| r.try_get::<String, _>("blob_key"))
                    .collect()
            })
            .map_err(|e| db_error("listing blob keys", e))
    }

    /// Whether any record still holds content with this checksum.
    pub async fn has_content(&self, sha256: &str) -> Result<bool> {
        let row = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM images WHERE sha256 = $1")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error("checking content", e))?;
        let n: i64 = row
            .try_get("n")
            .map_err(|e| db_error("checking content", e))?;
        Ok(n > 0)
    }

    pub async fn insert_key(&self, key_hash: &str, account: &str, label: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (key_hash, account, label, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(key_hash)
        .bind(account)
        .bind(label)
        .bind(super::now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("storing an API key", e))?;
        Ok(())
    }

    /// The account of the key with this hash.
    pub async fn key_account(&self, key_hash: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT account FROM api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error("checking an API key", e))?;
        row.map(|row| row.try_get("account"))
            .transpose()
            .map_err(|e| db_error("checking an API key", e))
    }

    /// Whether a key with this hash existed (and is now gone).
    pub async fn delete_key(&self, key_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error("revoking an API key", e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn attach_tags(&self, records: &mut [(ImageRecord, String)]) -> Result<()> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| db_error("reading tags", e))?;
        attach_tags_with(&mut conn, records).await
    }
}

/// Fails with [`ErrorKind::NotFound`] naming the first id that has no record.
fn require_all(ids: &[String], found: &[(ImageRecord, String)]) -> Result<()> {
    match ids
        .iter()
        .find(|id| !found.iter().any(|(r, _)| &r.id == *id))
    {
        Some(missing) => Err(Error::new(
            ErrorKind::NotFound,
            format!("no image '{}'", missing.escape_debug()),
        )),
        None => Ok(()),
    }
}

/// A statement assembled from this module's constant fragments and numbered placeholders;
/// every value is bound, never formatted in.
fn built(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn attach_tags_with(
    conn: &mut sqlx::AnyConnection,
    records: &mut [(ImageRecord, String)],
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT image_id, tag FROM image_tags WHERE image_id IN ({}) ORDER BY image_id, position",
        placeholders(1, records.len())
    );
    let mut query = sqlx::query(built(sql));
    for (record, _) in records.iter() {
        query = query.bind(&record.id);
    }
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| db_error("reading tags", e))?;
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let id: String = row
            .try_get("image_id")
            .map_err(|e| db_error("reading tags", e))?;
        let tag: String = row
            .try_get("tag")
            .map_err(|e| db_error("reading tags", e))?;
        tags.entry(id).or_default().push(tag);
    }
    for (record, _) in records.iter_mut() {
        record.tags = tags.remove(&record.id).unwrap_or_default();
    }
    Ok(())
}

/// The columns an upload writes and an overwrite replaces: all but `id`, `path` and the two
/// times, in the order of [`COLUMNS`] and of [`bind_content`].
const CONTENT_COLUMNS: [&str; 21] = [
    "folder",
    "name",
    "original_name",
    "blob_key",
    "mime",
    "format",
    "size",
    "width",
    "height",
    "md5",
    "sha256",
    "phash",
    "title",
    "description",
    "album_id",
    "category_id",
    "custom_coordinates",
    "is_private",
    "nsfw",
    "account",
    "expires_at",
];

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds the values of [`CONTENT_COLUMNS`], in their order.
fn bind_content<'q>(query: AnyQuery<'q>, r: &'q ImageRecord, blob_key: &'q str) -> AnyQuery<'q> {
    query
        .bind(&r.folder)
        .bind(&r.name)
        .bind(&r.original_name)
        .bind(blob_key)
        .bind(&r.mime)
        .bind(&r.format)
        .bind(r.size as i64)
        .bind(r.width as i64)
        .bind(r.height as i64)
        .bind(&r.md5)
        .bind(&r.sha256)
        .bind(&r.phash)
        .bind(&r.title)
        .bind(&r.description)
        .bind(&r.album_id)
        .bind(&r.category_id)
        .bind(&r.custom_coordinates)
        .bind(r.is_private as i64)
        .bind(r.nsfw as i64)
        .bind(&r.account)
        .bind(r.expires_at)
}

async fn insert_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    r: &ImageRecord,
    blob_key: &str,
) -> std::result::Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO images ({COLUMNS}) VALUES ({})",
        placeholders(1, CONTENT_COLUMNS.len() + 4)
    );
    let query = sqlx::query(built(sql)).bind(&r.id).bind(&r.path);
    bind_content(query, r, blob_key)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Replaces the content of an existing record (an overwrite); its id, path and creation time
/// stay.
async fn update_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    r: &ImageRecord,
    blob_key: &str,
) -> std::result::Result<(), sqlx::Error> {
    let assignments: Vec<String> = CONTENT_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = ${}", i + 2))
        .collect();
    let sql = format!(
        "UPDATE images SET {}, updated_at = ${} WHERE id = $1",
        assignments.join(", "),
        CONTENT_COLUMNS.len() + 2
    );
    bind_content(sqlx::query(built(sql)).bind(&r.id), r, blob_key)
        .bind(r.updated_at)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

async fn write_tags(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    tags: &[String],
) -> Result<()> {
    for (position, tag) in tags.iter().enumerate() {
        sqlx::query("INSERT INTO image_tags (image_id, tag, position) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(tag)
            .bind(position as i64)
            .execute(&mut **tx)
            .await
            .map_err(|e| db_error("writing tags", e))?;
    }
    Ok(())
}

fn from_row(row: &AnyRow) -> Result<(ImageRecord, String)> {
    let get_err = |e| db_error("reading a record", e);
    let record = ImageRecord {
        id: row.try_get("id").map_err(get_err)?,
        path: row.try_get("path").map_err(get_err)?,
        folder: row.try_get("folder").map_err(get_err)?,
        name: row.try_get("name").map_err(get_err)?,
        original_name: row.try_get("original_name").map_err(get_err)?,
        mime: row.try_get("mime").map_err(get_err)?,
        format: row.try_get("format").map_err(get_err)?,
        size: row.try_get::<i64, _>("size").map_err(get_err)? as u64,
        width: row.try_get::<i64, _>("width").map_err(get_err)? as u32,
        height: row.try_get::<i64, _>("height").map_err(get_err)? as u32,
        md5: row.try_get("md5").map_err(get_err)?,
        sha256: row.try_get("sha256").map_err(get_err)?,
        phash: row.try_get("phash").map_err(get_err)?,
        tags: Vec::new(),
        title: row.try_get("title").map_err(get_err)?,
        description: row.try_get("description").map_err(get_err)?,
        album_id: row.try_get("album_id").map_err(get_err)?,
        category_id: row.try_get("category_id").map_err(get_err)?,
        custom_coordinates: row.try_get("custom_coordinates").map_err(get_err)?,
        is_private: row.try_get::<i64, _>("is_private").map_err(get_err)? != 0,
        nsfw: row.try_get::<i64, _>("nsfw").map_err(get_err)? != 0,
        account: row.try_get("account").map_err(get_err)?,
        expires_at: row.try_get("expires_at").map_err(get_err)?,
        created_at: row.try_get("created_at").map_err(get_err)?,
        updated_at: row.try_get("updated_at").map_err(get_err)?,
    };
    let blob_key = row.try_get("blob_key").map_err(get_err)?;
    Ok((record, blob_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_bind_the_columns_in_their_declared_order() {
        let declared: Vec<&str> = COLUMNS.split(", ").collect();
        let bound: Vec<&str> = ["id", "path"]
            .into_iter()
            .chain(CONTENT_COLUMNS)
            .chain(["created_at", "updated_at"])
            .collect();
        assert_eq!(declared, bound);
    }
}
