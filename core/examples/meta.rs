//! Prints what picsmith reads from an image, as the bindings return it, every field computed.
//!
//! ```sh
//! cargo run --release -p picsmith --example meta -- photo.jpg
//! ```

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: meta IMAGE");
        std::process::exit(2);
    };
    let options = picsmith::MetadataOptions {
        colors: true,
        hashes: true,
        mini_preview: true,
        ..Default::default()
    };
    let result = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|data| picsmith::metadata(&data, &options).map_err(|e| e.to_string()));
    match result {
        Ok(meta) => println!(
            "{}",
            serde_json::to_string_pretty(&meta).expect("metadata serialises")
        ),
        Err(message) => {
            eprintln!("{path}: {message}");
            std::process::exit(1);
        }
    }
}
