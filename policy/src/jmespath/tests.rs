use super::*;
use serde_json::json;

fn run(expr: &str, data: &Value) -> JpResult<Value> {
    let e = compile(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    search(&e, data).map(|v| v.into_owned())
}

#[test]
fn kyverno_semantics_table() {
    let data = json!({
        "request": {"object": {
            "metadata": {"name": "p", "labels": {"app": "web", "app.kubernetes.io/name": "x"}},
            "spec": {"containers": [
                {"name": "a", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                {"name": "b", "image": "redis", "securityContext": {"privileged": true}}
            ]}
        }}
    });
    let ok: Vec<(&str, Value)> = vec![
        ("request.object.metadata.name", json!("p")),
        ("request.object.metadata.labels.\"app.kubernetes.io/name\"", json!("x")),
        ("request.object.metadata.labels.team || 'none'", json!("none")),
        ("request.object.spec.containers[].name", json!(["a", "b"])),
        ("request.object.spec.containers[].securityContext.privileged", json!([true])),
        ("request.object.spec.containers[?securityContext.privileged].name", json!(["b"])),
        ("request.object.spec.containers[?name == 'a'].image | [0]", json!("nginx:1")),
        ("length(request.object.spec.containers)", json!(2)),
        ("request.object.spec.containers[].ports[].containerPort", json!([80])),
        ("request.object.spec.containers[*].ports[].containerPort", json!([80])),
        ("request.object.spec.containers | length(@)", json!(2)),
        ("contains(request.object.spec.containers[].name, 'b')", json!(true)),
        ("keys(request.object.metadata.labels)", json!(["app", "app.kubernetes.io/name"])),
        ("request.object.metadata.keys(@)", json!(["labels", "name"])),
        ("request.object.spec.containers[0].image.split(@, ':')[1]", json!("1")),
        ("to_string(`3`)", json!("3")),
        ("`[1,2,3]`[-1]", json!(3)),
        ("`[1,2,3,4]`[1:3]", json!([2, 3])),
        ("`[1,2,3,4]`[::-1]", json!([4, 3, 2, 1])),
        ("request.object.spec.initContainers[].name || `[]`", json!([])),
        ("!(request.object.metadata.labels.team)", json!(true)),
        ("!request.object.metadata.labels.team", Value::Null),
        ("request.object.metadata.{n: name}", json!({"n": "p"})),
        ("max(`[1, 5, 3]`)", json!(5)),
        ("sort_by(request.object.spec.containers, &name)[0].name", json!("a")),
        ("map(&name, request.object.spec.containers)", json!(["a", "b"])),
        ("regex_match('^ngi', request.object.spec.containers[0].image)", json!(true)),
        ("divide('1Gi', '512Mi')", json!(2)),
        ("add('1Gi', '1Gi')", json!("2Gi")),
        ("multiply(`2`, '30s')", json!("1m0s")),
        ("path_canonicalize('//a//b/../c')", json!("/a/c")),
        ("base64_decode('aGVsbG8=')", json!("hello")),
        ("parse_json('{\"a\": 1}').a", json!(1)),
        ("parse_yaml('a: [1, 2]').a", json!([1, 2])),
        ("items(`{\"b\": 1, \"a\": 2}`, 'k', 'v')", json!([{"k": "a", "v": 2}, {"k": "b", "v": 1}])),
        ("pattern_match('ng*', 'nginx')", json!(true)),
        ("label_match(`{\"app\": \"web\"}`, request.object.metadata.labels)", json!(true)),
        ("truncate('abcdef', `3`)", json!("abc")),
        ("semver_compare('1.2.3', '>=1.0.0')", json!(true)),
        ("sum(['1Gi', '1Gi'])", json!("2Gi")),
        ("request.object.spec.replicas == `2`", json!(false)),
        ("request.object.spec.volumes[].name", Value::Null),
        ("request.object.metadata.annotations.values(@)[].regex_match('x', @)", Value::Null),
        ("request.object.spec.[initContainers, containers][][].name", json!(["a", "b"])),
    ];
    for (expr, want) in ok {
        assert_eq!(run(expr, &data).unwrap_or_else(|e| panic!("{expr}: {e}")), want, "{expr}");
    }
    let not_found =
        ["request.object.metadata.labels.team", "request.object.spec.initContainers", "request.object.status.phase"];
    for expr in not_found {
        assert!(matches!(run(expr, &data), Err(JpError::NotFound(_))), "{expr} should be NotFound");
    }
    let runtime_errors = ["length(`5`)", "divide(`1`, `0`)", "to_boolean('maybe')", "regex_match('(', 'x')"];
    for expr in runtime_errors {
        assert!(matches!(run(expr, &data), Err(JpError::Runtime(_))), "{expr} should fail");
    }
    assert!(compile("unknown_fn(@)").is_err());
    assert!(compile("a.[").is_err());
}

#[test]
fn numbers_compare_as_floats() {
    assert!(json_eq(&json!(1), &json!(1.0)));
    assert_eq!(run("`1` == `1.0`", &json!({})).unwrap(), json!(true));
    assert_eq!(run("`1` < `2`", &json!({})).unwrap(), json!(true));
    assert_eq!(run("'a' < 'b'", &json!({})).unwrap(), Value::Null);
}
