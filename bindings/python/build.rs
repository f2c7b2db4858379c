fn main() {
    // The link arguments picsmith asks of the final link (its build.rs says why).
    if let Ok(args) = std::env::var("DEP_PICSMITH_LINK_ARGS") {
        for arg in args.split_whitespace() {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
