//! Runs Kyverno CLI test files with medic's engine: `cargo run -p medic-policy --example kyverno_test -- PATH...`
fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    match medic_policy::harness::run_paths(&paths) {
        Ok(report) => {
            print!("{}", report.render());
            std::process::exit(i32::from(report.failed()));
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
