use super::*;
use serde_json::json;
use std::collections::HashMap;

fn run(src: &str, object: Value) -> EvalResult {
    let p = Program::compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let mut vars = HashMap::new();
    vars.insert("object", Val::from_json(&object));
    let lazy = [(
        "allContainers".to_string(),
        Program::compile("object.spec.containers + object.spec.?initContainers.orValue([])").unwrap(),
    )];
    let act = Activation::new(vars, &lazy);
    p.eval(&act)
}

#[test]
fn expressions_table() {
    let pod = json!({
        "apiVersion": "v1",
        "metadata": {"name": "p", "labels": {"app.kubernetes.io/name": "x"}, "annotations": {"a": "b"}},
        "spec": {"containers": [
            {"name": "c", "image": "nginx:latest", "securityContext": {"capabilities": {"drop": ["ALL"]}}, "ports": [{"hostPort": 0}]},
            {"name": "d", "image": "redis:7", "resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}}
        ], "replicas": 3, "ratio": 0.5}
    });
    let cases: Vec<(&str, Val)> = vec![
        ("object.spec.containers.all(c, c.image.contains(':'))", Val::Bool(true)),
        ("object.spec.containers.exists(c, c.image.endsWith(':latest'))", Val::Bool(true)),
        ("object.spec.containers.exists_one(c, c.name == 'c')", Val::Bool(true)),
        ("object.spec.?project.orValue('') != 'default'", Val::Bool(true)),
        ("object.metadata.?labels[?'app.kubernetes.io/name'].orValue('') != ''", Val::Bool(true)),
        (
            "object.spec.containers[0].?securityContext.?capabilities.?drop.orValue([]).exists(c, c.upperAscii() == 'ALL')",
            Val::Bool(true),
        ),
        (
            "object.spec.containers[1].?securityContext.allowPrivilegeEscalation.orValue(true) == false",
            Val::Bool(false),
        ),
        ("has(object.spec.containers) && !has(object.spec.volumes)", Val::Bool(true)),
        ("size(variables.allContainers) == 2", Val::Bool(true)),
        ("variables.allContainers.map(c, c.name)", Val::List(std::sync::Arc::new(vec![Val::str("c"), Val::str("d")]))),
        ("object.spec.containers.filter(c, has(c.resources)).size()", Val::Int(1)),
        ("object.spec.replicas > 2 && object.spec.replicas == 3.0", Val::Bool(true)),
        ("object.spec.ratio < 1", Val::Bool(true)),
        ("int(object.spec.?maxUnavailable.orValue(1)) > 0", Val::Bool(true)),
        ("!(duration('9h') > duration('8h'))", Val::Bool(false)),
        ("'a' in ['a', 'b'] && 'x' in {'x': 1}", Val::Bool(true)),
        ("object.metadata.annotations.exists(k, k == 'a')", Val::Bool(true)),
        ("has(object.spec.type) ? object.spec.type != 'NodePort' : true", Val::Bool(true)),
        ("object.metadata.name.matches('^p$')", Val::Bool(true)),
        ("quantity('1Gi').isGreaterThan(quantity('512Mi'))", Val::Bool(true)),
        (
            "object.spec.containers[1].resources.requests.memory == object.spec.containers[1].resources.?limits.?memory.orValue('-1')",
            Val::Bool(true),
        ),
        ("[1, 2, 3].sum() == 6 && [3, 1].min() == 1", Val::Bool(true)),
        ("cidr('10.0.0.0/8').containsIP('10.1.2.3') && isIP('::1')", Val::Bool(true)),
        ("url('https://a.b:8443/x?y=1').getPort() == '8443'", Val::Bool(true)),
        ("'a,b'.split(',').join('-')", Val::str("a-b")),
        ("optional.none().orValue(5) == 5 && optional.of(1).hasValue()", Val::Bool(true)),
        ("cel.bind(x, 2, x * x) == 4", Val::Bool(true)),
        ("object.spec.containers.all(c, c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) == 0))", Val::Bool(true)),
        (
            "object.spec.containers.map(c, c.name == 'c', c.image)",
            Val::List(std::sync::Arc::new(vec![Val::str("nginx:latest")])),
        ),
        ("false || true", Val::Bool(true)),
        ("'abc'.substring(1) + string(1)", Val::str("bc1")),
    ];
    for (src, want) in cases {
        let got = run(src, pod.clone()).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert!(value::equals(&got, &want), "{src}: got {got:?}");
    }
}

#[test]
fn errors_table() {
    let pod = json!({"spec": {"containers": [{"name": "c"}]}});
    for src in [
        "object.spec.volumes.all(v, true)",
        "object.spec.containers[0].image.startsWith('x')",
        "1 / 0",
        "'a' < 1",
        "int('x')",
        "9223372036854775807 + 1",
    ] {
        assert!(run(src, pod.clone()).is_err(), "{src} should fail");
    }
    // Errors are absorbed when the other side of a logical operator decides.
    assert!(value::equals(&run("object.spec.volumes.size() > 0 || true", pod.clone()).unwrap(), &Val::Bool(true)));
    assert!(value::equals(&run("false && object.spec.volumes.size() > 0", pod).unwrap(), &Val::Bool(false)));
    for bad in ["a.", "(", "[1,", "a ? b", "'unterminated"] {
        assert!(Program::compile(bad).is_err(), "{bad} should not parse");
    }
}
