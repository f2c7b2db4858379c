/* Smoke test of the C ABI: include/picsmith.h against the built libpicsmith.
 *
 * Usage: smoke [image.jpg]
 * Without an argument the corpus file large-2725x2225.jpg is read from $PICSMITH_CORPUS, else
 * from ../shared/corpus (relative to the working directory). When it is missing, the tests that
 * need a real image print SKIP and the others still run.
 */
#define _POSIX_C_SOURCE 200809L /* pthread barriers under -std=c11 */

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "picsmith.h"

static int passed = 0;
static int failed = 0;

static void check(int ok, const char *what) {
    if (ok) {
        passed++;
        printf("ok   %s\n", what);
    } else {
        failed++;
        printf("FAIL %s\n", what);
        const char *code = picsmith_last_error_code();
        if (code != NULL) {
            const char *message = picsmith_last_error_message();
            printf("     last error: %s: %s\n", code, message ? message : "(no message)");
        }
    }
}

static int str_is(const char *actual, const char *expected) {
    return actual != NULL && strcmp(actual, expected) == 0;
}

/* Reads a whole file; NULL when it cannot be opened. */
static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *grown = realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0) {
            break;
        }
        *len += n;
    }
    fclose(f);
    return buf;
}

/* A function, because `minor >= 0` written inline is always true and -Wtype-limits rejects it
 * while the header's minor is 0. */
static int at_least(uint32_t have, uint32_t want) {
    return have >= want;
}

static int is_webp(const uint8_t *data, size_t len) {
    return data != NULL && len >= 12 && memcmp(data, "RIFF", 4) == 0 &&
           memcmp(data + 8, "WEBP", 4) == 0;
}

static void test_versions(void) {
    check(picsmith_abi_version_major() == PICSMITH_ABI_VERSION_MAJOR,
          "library ABI major matches the header");
    check(at_least(picsmith_abi_version_minor(), PICSMITH_ABI_VERSION_MINOR),
          "library ABI minor is at least the header's");
    const char *version = picsmith_version();
    check(version != NULL && strlen(version) > 0 && strchr(version, '.') != NULL,
          "picsmith_version() is a dotted version");
    picsmith_limits limits = picsmith_limits_default();
    check(limits.max_input_bytes == 64u * 1024 * 1024 && limits.max_source_pixels == 100000000u &&
              limits.max_output_side == 16384,
          "picsmith_limits_default() returns the core's defaults");
}

static void test_errors_without_image(void) {
    static const uint8_t junk[] = "not an image at all";
    static int not_an_image;
    /* A non-NULL value, so the test sees whether a failing call resets *out to NULL. */
    picsmith_image *img = (picsmith_image *)&not_an_image;

    picsmith_status s = picsmith_process(junk, sizeof junk, "width=0", NULL, NULL, &img);
    check(s == PICSMITH_STATUS_INVALID_PARAMETER, "width=0 is PICSMITH_STATUS_INVALID_PARAMETER");
    check(img == NULL, "*out is NULL after a failure");
    check(str_is(picsmith_last_error_code(), "invalid_parameter"),
          "last error code is \"invalid_parameter\"");
    check(str_is(picsmith_last_error_parameter(), "width"), "last error parameter is \"width\"");
    const char *message = picsmith_last_error_message();
    check(message != NULL && strstr(message, "'0'") != NULL,
          "last error message names the bad value");

    s = picsmith_process(NULL, 10, "width=10", NULL, NULL, &img);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT, "NULL input is PICSMITH_STATUS_INVALID_ARGUMENT");
    check(str_is(picsmith_last_error_code(), "invalid_argument"),
          "last error code is \"invalid_argument\"");
    check(picsmith_last_error_parameter() == NULL, "an argument error names no parameter");

    s = picsmith_process(junk, sizeof junk, NULL, NULL, NULL, &img);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT, "NULL query is PICSMITH_STATUS_INVALID_ARGUMENT");
    s = picsmith_process(junk, sizeof junk, "width=10", NULL, NULL, NULL);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT, "NULL out is PICSMITH_STATUS_INVALID_ARGUMENT");
    s = picsmith_process(junk, sizeof junk, "width=\xff\xfe", NULL, NULL, &img);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT,
          "a query that is not UTF-8 is PICSMITH_STATUS_INVALID_ARGUMENT");

    s = picsmith_process(junk, 0, "width=10", NULL, NULL, &img);
    check(s == PICSMITH_STATUS_INVALID_IMAGE && str_is(picsmith_last_error_code(), "invalid_image"),
          "empty input is PICSMITH_STATUS_INVALID_IMAGE");
    s = picsmith_process(junk, sizeof junk, "width=10", NULL, NULL, &img);
    check(s == PICSMITH_STATUS_UNSUPPORTED_FORMAT &&
              str_is(picsmith_last_error_code(), "unsupported_format"),
          "unknown bytes are PICSMITH_STATUS_UNSUPPORTED_FORMAT");
    s = picsmith_process(junk, sizeof junk, "cache_processed=true", NULL, NULL, &img);
    check(s == PICSMITH_STATUS_UNSUPPORTED &&
              str_is(picsmith_last_error_parameter(), "cache_processed"),
          "an unimplemented parameter is PICSMITH_STATUS_UNSUPPORTED");

    picsmith_pipeline *pipeline = NULL;
    s = picsmith_pipeline_new("width=10&cb=1", true, &pipeline);
    check(s == PICSMITH_STATUS_INVALID_PARAMETER && pipeline == NULL &&
              str_is(picsmith_last_error_parameter(), "cb"),
          "a strict pipeline rejects an unknown parameter");
    s = picsmith_pipeline_new("width=10&cb=1", false, &pipeline);
    check(s == PICSMITH_STATUS_OK && pipeline != NULL, "a lenient pipeline accepts it");
    check(picsmith_last_error_code() == NULL && picsmith_last_error_message() == NULL,
          "a successful call clears the last error");
    s = picsmith_pipeline_run(NULL, junk, sizeof junk, NULL, NULL, &img);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT, "NULL pipeline is PICSMITH_STATUS_INVALID_ARGUMENT");
    s = picsmith_pipeline_run(pipeline, NULL, 0, NULL, NULL, &img);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT, "pipeline_run rejects NULL input");
    picsmith_pipeline_free(pipeline);

    uint8_t *bytes = (uint8_t *)junk;
    size_t len = 99;
    s = picsmith_image_take_data(NULL, &bytes, &len);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT && bytes == NULL && len == 0,
          "take_data on NULL fails and clears its outputs");

    picsmith_image_free(NULL);
    picsmith_pipeline_free(NULL);
    picsmith_buffer_free(NULL, 0);
    picsmith_buffer_free(NULL, 123);
    check(1, "the free functions accept NULL");

    len = 99;
    check(picsmith_image_data(NULL, &len) == NULL && len == 0, "image_data(NULL) is NULL, 0");
    check(picsmith_image_width(NULL) == 0 && picsmith_image_height(NULL) == 0 &&
              picsmith_image_format(NULL) == NULL && picsmith_image_mime(NULL) == NULL &&
              picsmith_image_warning_count(NULL) == 0 &&
              picsmith_image_warning_parameter(NULL, 0) == NULL &&
              !picsmith_image_vary_accept(NULL) && picsmith_image_quality(NULL) == 0,
          "the accessors accept NULL");
}

/* Each thread fails differently, waits until the other has failed too, then reads its own
 * last error: a process-wide slot would show the other thread's error to one of them. */
struct thread_case {
    const char *query;
    const char *expected_code;
    pthread_barrier_t *barrier;
    int ok;
};

static void *fail_then_read_last_error(void *arg) {
    struct thread_case *c = arg;
    static const uint8_t junk[] = "not an image";
    picsmith_image *img = NULL;
    picsmith_process(junk, sizeof junk, c->query, NULL, NULL, &img);
    pthread_barrier_wait(c->barrier);
    c->ok = img == NULL && str_is(picsmith_last_error_code(), c->expected_code);
    pthread_barrier_wait(c->barrier);
    return NULL;
}

static void test_last_error_is_per_thread(void) {
    static pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct thread_case cases[2] = {
        {"width=0", "invalid_parameter", &barrier, 0},
        {"width=10", "unsupported_format", &barrier, 0},
    };
    pthread_t threads[2];
    int started = 0;
    for (int i = 0; i < 2; i++) {
        started += pthread_create(&threads[i], NULL, fail_then_read_last_error, &cases[i]) == 0;
    }
    if (started == 2) {
        pthread_join(threads[0], NULL);
        pthread_join(threads[1], NULL);
        pthread_barrier_destroy(&barrier);
    } /* else a lone thread still waits on the barrier, which must then outlive it */
    check(started == 2 && cases[0].ok && cases[1].ok, "each thread reads its own last error");
}

static void test_with_image(const uint8_t *jpeg, size_t jpeg_len) {
    picsmith_image *img = NULL;
    picsmith_status s =
        picsmith_process(jpeg, jpeg_len, "width=400&format=webp&cb=7", NULL, NULL, &img);
    check(s == PICSMITH_STATUS_OK && img != NULL, "width=400&format=webp succeeds");
    if (img == NULL) {
        return;
    }
    check(picsmith_image_width(img) == 400, "width is 400");
    check(picsmith_image_height(img) == 327, "height keeps the aspect ratio (327)");
    check(str_is(picsmith_image_format(img), "webp"), "format is \"webp\"");
    check(str_is(picsmith_image_mime(img), "image/webp"), "mime is \"image/webp\"");
    check(!picsmith_image_vary_accept(img), "an explicit format does not vary on Accept");
    check(picsmith_image_quality(img) >= 1 && picsmith_image_quality(img) <= 100,
          "lossy WebP reports its quality");
    size_t len = 0;
    const uint8_t *data = picsmith_image_data(img, &len);
    check(is_webp(data, len), "data starts with RIFF....WEBP");
    check(picsmith_image_warning_count(img) == 1 &&
              str_is(picsmith_image_warning_parameter(img, 0), "cb") &&
              picsmith_image_warning_message(img, 0) != NULL &&
              picsmith_image_warning_parameter(img, 1) == NULL,
          "the unknown parameter 'cb' is one warning");

    uint8_t *owned = NULL;
    size_t owned_len = 0;
    s = picsmith_image_take_data(img, &owned, &owned_len);
    check(s == PICSMITH_STATUS_OK && owned_len == len && is_webp(owned, owned_len),
          "take_data hands over the same bytes");
    check(picsmith_image_data(img, &len) == NULL && len == 0, "the image no longer has data");
    uint8_t *again = NULL;
    s = picsmith_image_take_data(img, &again, &len);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT && again == NULL,
          "taking the data twice is PICSMITH_STATUS_INVALID_ARGUMENT");
    check(picsmith_image_width(img) == 400, "the image keeps its size after take_data");
    picsmith_image_free(img);
    check(is_webp(owned, owned_len), "the taken buffer outlives its image");
    picsmith_buffer_free(owned, owned_len);

    char *json = NULL;
    s = picsmith_metadata(jpeg, jpeg_len, PICSMITH_METADATA_COLORS | PICSMITH_METADATA_HASHES,
                          NULL, &json);
    check(s == PICSMITH_STATUS_OK && json != NULL && strstr(json, "\"width\":2725") != NULL &&
              strstr(json, "\"dominantColor\":\"#") != NULL &&
              strstr(json, "\"blurhash\":\"") != NULL,
          "picsmith_metadata returns the header, colours and hashes as JSON");
    picsmith_string_free(json);
    json = (char *)1;
    s = picsmith_metadata(NULL, 0, 0, NULL, &json);
    check(s == PICSMITH_STATUS_INVALID_ARGUMENT && json == NULL,
          "picsmith_metadata without input is PICSMITH_STATUS_INVALID_ARGUMENT and sets NULL");
    s = picsmith_metadata((const uint8_t *)"plain text", 10, 0, NULL, &json);
    check(s == PICSMITH_STATUS_UNSUPPORTED_FORMAT && json == NULL,
          "picsmith_metadata of text is PICSMITH_STATUS_UNSUPPORTED_FORMAT");
    picsmith_string_free(NULL);

    picsmith_pipeline *pipeline = NULL;
    s = picsmith_pipeline_new("w=200&format=auto", true, &pipeline);
    check(s == PICSMITH_STATUS_OK, "a strict pipeline accepts known parameters");
    for (int i = 0; i < 2 && pipeline != NULL; i++) {
        img = NULL;
        s = picsmith_pipeline_run(pipeline, jpeg, jpeg_len, "image/avif,image/webp,*/*", NULL,
                                  &img);
        check(s == PICSMITH_STATUS_OK && picsmith_image_width(img) == 200 &&
                  str_is(picsmith_image_format(img), "webp") && picsmith_image_vary_accept(img),
              "a pipeline runs repeatedly and negotiates WebP from Accept");
        picsmith_image_free(img);
    }
    img = NULL;
    s = picsmith_pipeline_run(pipeline, jpeg, jpeg_len, NULL, NULL, &img);
    check(s == PICSMITH_STATUS_OK && str_is(picsmith_image_format(img), "jpeg"),
          "format=auto without Accept falls back to JPEG");
    picsmith_image_free(img);
    picsmith_pipeline_free(pipeline);

    picsmith_limits limits = picsmith_limits_default();
    limits.max_source_pixels = 1000000;
    img = NULL;
    s = picsmith_process(jpeg, jpeg_len, "width=400", NULL, &limits, &img);
    check(s == PICSMITH_STATUS_LIMIT_EXCEEDED && img == NULL &&
              str_is(picsmith_last_error_code(), "limit_exceeded"),
          "a 6 MP source over a 1 MP limit is PICSMITH_STATUS_LIMIT_EXCEEDED");

    /* Whether half a JPEG decodes (grey bottom) or fails is the core's choice; the ABI must
     * report either outcome coherently. */
    s = picsmith_process(jpeg, jpeg_len / 2, "width=100", NULL, NULL, &img);
    check(s == PICSMITH_STATUS_OK ? img != NULL && picsmith_last_error_code() == NULL
                                  : img == NULL && picsmith_last_error_code() != NULL,
          "a truncated JPEG gives an image or an error, never both or neither");
    picsmith_image_free(img);
}

/* The storage client on one backend: upload, read, render through the cache, tag, list,
 * usage, delete, and the errors of bad input. */
static void test_library_on(const char *backend, const char *settings) {
    char what[256];
    picsmith_library *lib = NULL;
    picsmith_status s = picsmith_library_open(settings, NULL, &lib);
    snprintf(what, sizeof what, "%s: picsmith_library_open", backend);
    check(s == PICSMITH_STATUS_OK && lib != NULL, what);
    if (lib == NULL) {
        return;
    }
    size_t fixture_len = 0;
    unsigned char *fixture = read_file("tests/fixtures/gray-320.jpg", &fixture_len);
    char *json = NULL;
    s = picsmith_library_upload(lib, fixture, fixture_len,
                                "{\"fileName\": \"cat photo.jpg\", \"folder\": \"/pets\", "
                                "\"tags\": [\"cat\"]}",
                                &json);
    snprintf(what, sizeof what, "%s: upload answers the record as JSON", backend);
    check(s == PICSMITH_STATUS_OK && json != NULL &&
              strstr(json, "\"folder\":\"/pets/\"") != NULL &&
              strstr(json, "\"name\":\"cat_photo_") != NULL &&
              strstr(json, "\"tags\":[\"cat\"]") != NULL,
          what);
    char id[32] = {0};
    char *at = json ? strstr(json, "\"id\":\"") : NULL;
    if (at != NULL) {
        sscanf(at + 6, "%31[0-9A-Za-z]", id);
    }
    picsmith_string_free(json);

    uint8_t *data = NULL;
    size_t len = 0;
    s = picsmith_library_read(lib, id, &data, &len);
    snprintf(what, sizeof what, "%s: read gives back the uploaded bytes", backend);
    check(s == PICSMITH_STATUS_OK && len == fixture_len && memcmp(data, fixture, len) == 0, what);
    picsmith_buffer_free(data, len);

    for (int round = 0; round < 2; round++) {
        picsmith_image *img = NULL;
        bool hit = true;
        s = picsmith_library_render(lib, id, "width=100&format=webp", NULL, false, &hit, &img);
        snprintf(what, sizeof what, "%s: render %s the derived cache", backend,
                 round == 0 ? "misses" : "hits");
        check(s == PICSMITH_STATUS_OK && picsmith_image_width(img) == 100 && hit == (round == 1),
              what);
        picsmith_image_free(img);
    }

    char ids[64];
    snprintf(ids, sizeof ids, "[\"%s\"]", id);
    s = picsmith_library_tag(lib, ids, "[\"pet\", \"gray\"]", true, &json);
    snprintf(what, sizeof what, "%s: tags are added", backend);
    check(s == PICSMITH_STATUS_OK && strstr(json, "\"tags\":[\"cat\",\"pet\",\"gray\"]") != NULL,
          what);
    picsmith_string_free(json);
    s = picsmith_library_list(lib, "{\"tag\": \"pet\"}", &json);
    snprintf(what, sizeof what, "%s: list finds the image by tag", backend);
    check(s == PICSMITH_STATUS_OK && strstr(json, "\"total\":1") != NULL, what);
    picsmith_string_free(json);
    s = picsmith_library_usage(lib, NULL, &json);
    snprintf(what, sizeof what, "%s: usage counts the image", backend);
    check(s == PICSMITH_STATUS_OK && strstr(json, "\"num_images\":1") != NULL, what);
    picsmith_string_free(json);

    s = picsmith_library_upload(lib, (const uint8_t *)"text", 4, NULL, &json);
    snprintf(what, sizeof what, "%s: a non-image is PICSMITH_STATUS_UNSUPPORTED_FORMAT", backend);
    check(s == PICSMITH_STATUS_UNSUPPORTED_FORMAT && json == NULL, what);
    s = picsmith_library_upload_text(lib, "http://10.0.0.1/x.jpg", NULL, &json);
    snprintf(what, sizeof what, "%s: a private URL is PICSMITH_STATUS_FORBIDDEN", backend);
    check(s == PICSMITH_STATUS_FORBIDDEN && str_is(picsmith_last_error_code(), "forbidden"),
          what);
    s = picsmith_library_upload(lib, fixture, fixture_len, "{\"fileName\": \"../x.jpg\"}", &json);
    snprintf(what, sizeof what, "%s: path traversal names fileName", backend);
    check(s == PICSMITH_STATUS_INVALID_PARAMETER &&
              str_is(picsmith_last_error_parameter(), "fileName"),
          what);
    s = picsmith_library_tag(lib, ids, "not json", true, &json);
    snprintf(what, sizeof what, "%s: a bad tag list is PICSMITH_STATUS_INVALID_PARAMETER", backend);
    check(s == PICSMITH_STATUS_INVALID_PARAMETER, what);

    s = picsmith_library_delete(lib, ids, &json);
    picsmith_string_free(json);
    s = picsmith_library_get(lib, id, &json);
    snprintf(what, sizeof what, "%s: a deleted image is PICSMITH_STATUS_NOT_FOUND", backend);
    check(s == PICSMITH_STATUS_NOT_FOUND && json == NULL, what);
    s = picsmith_library_maintain(lib, 0, &json);
    snprintf(what, sizeof what, "%s: maintenance finds nothing left behind", backend);
    check(s == PICSMITH_STATUS_OK && strstr(json, "\"removedBlobs\":0") != NULL, what);
    picsmith_string_free(json);

    char *key = NULL;
    s = picsmith_library_create_key(lib, "acme", NULL, &key);
    snprintf(what, sizeof what, "%s: an API key is created", backend);
    check(s == PICSMITH_STATUS_OK && key != NULL && strncmp(key, "psk_", 4) == 0, what);
    s = picsmith_library_check_key(lib, key, &json);
    snprintf(what, sizeof what, "%s: the key names its account", backend);
    check(s == PICSMITH_STATUS_OK && str_is(json, "acme"), what);
    picsmith_string_free(json);
    s = picsmith_library_revoke_key(lib, key);
    snprintf(what, sizeof what, "%s: a revoked key is PICSMITH_STATUS_NOT_FOUND", backend);
    check(s == PICSMITH_STATUS_OK &&
              picsmith_library_check_key(lib, key, &json) == PICSMITH_STATUS_NOT_FOUND &&
              json == NULL,
          what);
    picsmith_string_free(key);
    free(fixture);
    picsmith_library_free(lib);
}

/* Signed paths: a round trip, then tampering and expiry refused. */
/* A deployment's parameter allow-list: aliases and base64 forms count as their parameter. */
static void test_allowed_parameters(void) {
    const char *allowed[] = {"width", "format"};
    check(picsmith_check_allowed_parameters("w=300&format64=cG5n", allowed, 2) ==
              PICSMITH_STATUS_OK,
          "an alias and a base64 form of allowed parameters pass the allow-list");
    picsmith_status s = picsmith_check_allowed_parameters("width=300&blur=9", allowed, 2);
    check(s == PICSMITH_STATUS_FORBIDDEN && str_is(picsmith_last_error_parameter(), "blur"),
          "a parameter outside the allow-list is PICSMITH_STATUS_FORBIDDEN naming it");
    check(picsmith_check_allowed_parameters("width=1", NULL, 1) ==
              PICSMITH_STATUS_INVALID_ARGUMENT,
          "a NULL allow-list with a count is PICSMITH_STATUS_INVALID_ARGUMENT");
}

static void test_signed_paths(void) {
    const uint8_t *secret = (const uint8_t *)"s3cret";
    char *signed_path = NULL;
    char *plain = NULL;
    picsmith_status s = picsmith_sign_path(secret, 6, "/cat.jpg?width=300", 2000, &signed_path);
    check(s == PICSMITH_STATUS_OK &&
              strncmp(signed_path, "/cat.jpg?width=300&expires=2000&signature=", 42) == 0,
          "picsmith_sign_path appends expires and signature");
    s = picsmith_verify_signed_path(secret, 6, signed_path, 1000, &plain);
    check(s == PICSMITH_STATUS_OK && str_is(plain, "/cat.jpg?width=300"),
          "picsmith_verify_signed_path gives back the unsigned path");
    check(picsmith_last_error_http_status() == 0, "after a success the HTTP status is 0");
    picsmith_string_free(plain);
    s = picsmith_verify_signed_path(secret, 6, signed_path, 2001, &plain);
    check(s == PICSMITH_STATUS_FORBIDDEN && plain == NULL &&
              str_is(picsmith_last_error_parameter(), "signature"),
          "an expired signed path is PICSMITH_STATUS_FORBIDDEN");
    check(picsmith_last_error_http_status() == 403, "the last error's HTTP status is 403");
    s = picsmith_verify_signed_path(secret, 5, signed_path, 1000, &plain);
    check(s == PICSMITH_STATUS_FORBIDDEN, "another secret is PICSMITH_STATUS_FORBIDDEN");
    picsmith_string_free(signed_path);
}

static void test_library_s3_postgres(const char *dir);

static void test_library(void) {
    char dir[] = "/tmp/picsmith-c-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        check(0, "a temporary folder for the library");
        return;
    }
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"storage\": \"file://%s/data\", \"catalog\": \"sqlite://%s/data/catalog.db\", "
             "\"cache\": \"%s/cache\"}",
             dir, dir, dir);
    test_library_on("local+sqlite", settings);
    test_library_s3_postgres(dir);
    char command[1200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) {
        printf("note: could not remove %s\n", dir);
    }
}

/* The same calls against the real S3 server and PostgreSQL that with-servers.sh started. */
static void test_library_s3_postgres(const char *dir) {
    char settings[1024];
    char command[1200];
    const char *endpoint = getenv("PICSMITH_TEST_S3_ENDPOINT");
    const char *root = getenv("PICSMITH_TEST_S3_ROOT");
    const char *postgres = getenv("PICSMITH_TEST_POSTGRES");
    if (!endpoint || !root || !postgres) {
        printf("SKIP s3+postgres: run under tests/servers/with-servers.sh, as make test does\n");
        return;
    }
    const char *port = strrchr(postgres, ':');
    char name[32];
    snprintf(name, sizeof name, "c%ld", (long)getpid());
    snprintf(command, sizeof command,
             "mkdir -p '%s/%s' && createdb -h 127.0.0.1 -p %s -U postgres %s", root, name,
             port ? port + 1 : "5432", name);
    check(system(command) == 0, "s3+postgres: a fresh bucket and database");
    snprintf(settings, sizeof settings,
             "{\"storage\": \"s3://%s?endpoint=%s&region=us-east-1&path_style=true\", "
             "\"catalog\": \"%s/%s\", \"cache\": \"%s/s3-cache\"}",
             name, endpoint, postgres, name, dir);
    test_library_on("s3+postgres", settings);
}

/* The size `query` gives `data`, or 0x0 when it fails. */
static void transformed_size(const unsigned char *data, size_t len, const char *query,
                             uint32_t *width, uint32_t *height) {
    picsmith_image *img = NULL;
    *width = *height = 0;
    if (picsmith_process(data, len, query, NULL, NULL, &img) == PICSMITH_STATUS_OK) {
        *width = picsmith_image_width(img);
        *height = picsmith_image_height(img);
    }
    picsmith_image_free(img);
}

/* A JPEG XL that picsmith writes and a HEIC that the `vips` command makes from the same corpus
 * JPEG transform to the JPEG's size. */
static void test_heic_and_jxl_like_the_jpeg(const char *corpus) {
    char jpeg_path[4096];
    snprintf(jpeg_path, sizeof jpeg_path, "%s/orient1-landscape.jpg", corpus);
    size_t jpeg_len = 0;
    unsigned char *jpeg = read_file(jpeg_path, &jpeg_len);
    if (jpeg == NULL) {
        printf("SKIP heic/jxl: cannot read %s\n", jpeg_path);
        return;
    }
    const char *query = "width=200&format=webp";
    uint32_t want_w, want_h, w, h;
    transformed_size(jpeg, jpeg_len, query, &want_w, &want_h);

    picsmith_image *jxl = NULL;
    check(picsmith_process(jpeg, jpeg_len, "format=jxl", NULL, NULL, &jxl) == PICSMITH_STATUS_OK &&
              strcmp(picsmith_image_mime(jxl), "image/jxl") == 0,
          "format=jxl writes JPEG XL");
    size_t jxl_len = 0;
    const uint8_t *jxl_data = picsmith_image_data(jxl, &jxl_len);
    transformed_size(jxl_data, jxl_len, query, &w, &h);
    check(w == want_w && h == want_h && want_w == 200, "a JPEG XL transforms like the JPEG");
    picsmith_image_free(jxl);

    char dir[] = "/tmp/picsmith-c-heic-XXXXXX";
    char command[8192];
    char heic_path[256];
    if (mkdtemp(dir) == NULL) {
        check(0, "mkdtemp for the HEIC");
        free(jpeg);
        return;
    }
    snprintf(heic_path, sizeof heic_path, "%s/landscape.heic", dir);
    snprintf(command, sizeof command, "vips copy '%s' '%s[Q=70]'", jpeg_path, heic_path);
    check(system(command) == 0, "the vips command makes a HEIC of the JPEG");
    size_t heic_len = 0;
    unsigned char *heic = read_file(heic_path, &heic_len);
    transformed_size(heic, heic_len, query, &w, &h);
    check(heic != NULL && w == want_w && h == want_h, "a HEIC transforms like the JPEG");
    free(heic);
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    check(system(command) == 0, "the HEIC folder is removed");
    free(jpeg);
}

/* HEIF/HEIC, AVIF, JPEG XL and TIFF go through libvips when the library has the `vips`
 * feature, and are PICSMITH_STATUS_UNSUPPORTED_FORMAT without it. */
static void test_long_tail_formats(const char *corpus) {
    check(!picsmith_has_feature(NULL) && !picsmith_has_feature("no-such-feature"),
          "picsmith_has_feature: NULL and unknown names are false");
    int vips = picsmith_has_feature("vips");
    printf("     libvips linked: %s\n", vips ? "yes" : "no");
    const char *files[] = {"icc-adobergb-16bit.tiff", "avif-pitm-4096x800.avif"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        char what[256];
        snprintf(path, sizeof path, "%s/%s", corpus, files[i]);
        size_t len = 0;
        unsigned char *data = read_file(path, &len);
        if (data == NULL) {
            printf("SKIP %s: cannot read %s\n", files[i], path);
            continue;
        }
        picsmith_image *img = NULL;
        picsmith_status s = picsmith_process(data, len, "width=200&format=webp", NULL, NULL, &img);
        if (vips) {
            size_t out_len = 0;
            const uint8_t *out = picsmith_image_data(img, &out_len);
            snprintf(what, sizeof what, "%s transforms like a JPEG (width=200&format=webp)",
                     files[i]);
            check(s == PICSMITH_STATUS_OK && picsmith_image_width(img) == 200 &&
                      is_webp(out, out_len),
                  what);
        } else {
            snprintf(what, sizeof what, "%s without libvips is PICSMITH_STATUS_UNSUPPORTED_FORMAT",
                     files[i]);
            check(s == PICSMITH_STATUS_UNSUPPORTED_FORMAT && img == NULL &&
                      strstr(picsmith_last_error_message(), "vips") != NULL,
                  what);
        }
        picsmith_image_free(img);
        free(data);
    }
    if (vips) {
        test_heic_and_jxl_like_the_jpeg(corpus);
    }
}

int main(int argc, char **argv) {
    char corpus_path[4096];
    const char *corpus = getenv("PICSMITH_CORPUS");
    if (corpus == NULL || *corpus == '\0') {
        corpus = "../shared/corpus";
    }
    const char *path = argc > 1 ? argv[1] : NULL;
    if (path == NULL) {
        snprintf(corpus_path, sizeof corpus_path, "%s/large-2725x2225.jpg", corpus);
        path = corpus_path;
    }

    test_versions();
    test_errors_without_image();
    test_last_error_is_per_thread();
    test_long_tail_formats(corpus);

    size_t len = 0;
    unsigned char *jpeg = read_file(path, &len);
    if (jpeg == NULL) {
        printf("SKIP image tests: cannot read %s (set PICSMITH_CORPUS or pass a JPEG path)\n",
               path);
    } else {
        test_with_image(jpeg, len);
        free(jpeg);
    }

    test_library();
    test_signed_paths();
    test_allowed_parameters();

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
