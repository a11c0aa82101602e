//! Evaluates a JMESPath expression against a JSON document: `cargo run -p medic-policy --example jp -- EXPR JSON`
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data: serde_json::Value = serde_json::from_str(&args[2]).expect("json");
    let expr = medic_policy::jmespath::compile(&args[1]).expect("compile");
    println!("{:?}", medic_policy::jmespath::search(&expr, &data));
}
