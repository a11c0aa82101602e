fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    let report = medic_policy::harness::run_paths(&paths).unwrap();
    for t in &report.tests {
        for r in t.rows.iter().filter(|r| r.verdict == medic_policy::harness::Verdict::Excluded) {
            println!("{} {} {} want={} [{}]", r.policy, r.rule, r.resource, r.expected, t.path);
        }
    }
}
