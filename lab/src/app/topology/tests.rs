use super::*;

const MINIMAL: &str = r#"
name: t
namespace: demo
nodes:
  - {name: n1, cpu: "2", memory: 4Gi}
services:
  - name: web
    technology: go
    image: example.org/web:1.0
    request_rate: 10
    dependencies:
      - {service: db}
  - name: db
    technology: postgres
    image: postgres:16
    max_connections: 50
"#;

#[test]
fn the_built_in_shop_loads() {
    let shop = Topology::shop();
    assert_eq!(shop.namespace, "shop");
    assert_eq!(shop.nodes.len(), 3);
    assert!(shop.services.len() >= 12);
    for name in ["frontend", "cart", "cart-redis", "checkout", "payment", "catalog", "currency", "shipping", "email"] {
        assert!(shop.service(name).is_some(), "{name}");
    }
    assert!(shop.service("recommendation").is_some() && shop.service("orders").is_some());
    let orders_db = shop.service("orders-db").unwrap();
    assert_eq!((orders_db.technology, orders_db.max_connections), (Technology::Postgres, Some(100)));
    // Every service comes after its dependencies.
    let position = |i: usize| shop.dependency_order.iter().position(|&s| s == i).unwrap();
    for (i, service) in shop.services.iter().enumerate() {
        for dep in &service.dependencies {
            assert!(position(dep.service) < position(i), "{} before {}", shop.services[dep.service].name, service.name);
        }
    }
    let cart = shop.service("cart").unwrap();
    assert_eq!(cart.dependencies[0].env, "REDIS_ADDR");
    let orders = shop.service("orders").unwrap();
    assert_eq!(orders.dependencies[0].env, "SPRING_DATASOURCE_URL");
}

#[test]
fn defaults_come_from_the_technology() {
    let t = Topology::from_yaml(MINIMAL, "t.yaml").unwrap();
    let web = t.service("web").unwrap();
    assert_eq!((web.port, web.protocol, web.replicas), (8080, Protocol::Http, 1));
    assert_eq!(web.dependencies[0].protocol, Protocol::Postgres);
    assert_eq!(web.dependencies[0].pool, Some(10));
    assert_eq!(web.dependencies[0].env, "DATABASE_URL");
    let db = t.service("db").unwrap();
    assert_eq!((db.port, db.database.as_str()), (5432, "db"));
    assert_eq!(t.dependency_order, vec![1, 0]);
}

#[test]
fn the_registry_knows_which_tags_exist() {
    let shop = Topology::shop();
    assert!(shop.image_exists("ghcr.io/medic-lab/shop-frontend:1.8.2"));
    assert!(shop.image_exists("ghcr.io/medic-lab/shop-frontend:1.9.0"));
    assert!(!shop.image_exists("ghcr.io/medic-lab/shop-frontend:1.8.3"));
    assert!(!shop.image_exists("ghcr.io/medic-lab/shop-frontend"));
    assert!(shop.image_exists(PAUSE_IMAGE));
    assert!(shop.image_exists("busybox:1.36"));
    assert!(shop.is_regression("ghcr.io/medic-lab/shop-frontend:1.9.0"));
    assert!(!shop.is_regression("ghcr.io/medic-lab/shop-frontend:1.8.2"));
    assert!(!shop.is_regression("busybox:1.36"));
    assert_eq!(split_image("localhost:5000/app:1.0"), ("localhost:5000/app", Some("1.0")));
    assert_eq!(split_image("localhost:5000/app"), ("localhost:5000/app", Some("latest")));
}

/// One row per mistake: the YAML change, the field the error names, and a phrase of its message.
#[test]
fn errors_name_the_file_the_field_and_the_line() {
    let cases: [(&str, &str, &str, &str); 9] = [
        ("{service: db}", "{service: cache}", "services[0].dependencies[0].service", "no service named \"cache\""),
        ("max_connections: 50", "max_connections: 50\n    replicaz: 2", "services[1]", "unknown field `replicaz`"),
        ("memory: 4Gi", "memory: 4Gb", "nodes[0].memory", "not a memory quantity"),
        ("request_rate: 10", "request_rate: 10\n    startup: soon", "services[0].startup", "not a duration"),
        ("technology: go", "technology: cobol", "services[0].technology", "unknown variant `cobol`"),
        ("request_rate: 10", "request_rate: 10\n    max_connections: 5", "services[0].max_connections", "datastores"),
        (
            "max_connections: 50",
            "max_connections: 50\n    dependencies: [{service: web}]",
            "services[0].dependencies",
            "dependency cycle: web -> db -> web",
        ),
        (
            "request_rate: 10",
            "request_rate: 10\n    config:\n      LOG_LEVEL: {value: loud, one_of: [info, debug]}",
            "services[0].config.LOG_LEVEL.value",
            "expected one of info, debug",
        ),
        ("namespace: demo", "namespace: Demo", "namespace", "DNS label"),
    ];
    for (from, to, field, phrase) in cases {
        let yaml = MINIMAL.replacen(from, to, 1);
        let error = Topology::from_yaml(&yaml, "bad.yaml").expect_err(to);
        assert_eq!(error.file, "bad.yaml");
        assert_eq!(error.field, field, "{to}: {error}");
        assert!(error.message.contains(phrase), "{to}: {error}");
        assert!(error.line.is_some(), "{to}: no line in {error}");
        assert!(error.to_string().starts_with("loading topology bad.yaml:"), "{error}");
    }
}

#[test]
fn config_rules_check_values_as_the_software_would() {
    let entry = |yaml: &str| serde_yaml_ng::from_str::<ConfigEntry>(yaml).unwrap();
    let level = entry("{value: info, one_of: [debug, info]}");
    assert!(level.check("debug").is_ok());
    assert_eq!(level.check("verbose"), Err("one of debug, info".into()));
    let ttl = entry("{value: '60', integer: {min: 1, max: 100}}");
    assert!(ttl.check("100").is_ok());
    assert!(ttl.check("101").is_err() && ttl.check("ten").is_err());
    let timeout = entry("{value: 30s, duration: true}");
    assert!(timeout.check("1m").is_ok() && timeout.check("30").is_err());
}

#[test]
fn the_hotel_topology_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/hotel.yaml");
    let hotel = Topology::load(&path).unwrap();
    assert_eq!((hotel.namespace.as_str(), hotel.services.len()), ("hotel", 17));
    let rate = hotel.service("rate").unwrap();
    let envs: Vec<&str> = rate.dependencies.iter().map(|d| d.env.as_str()).collect();
    assert_eq!(envs, ["MEMCACHED_SERVERS", "MONGO_URL"]);
    assert!(hotel.services.iter().any(|s| s.technology == Technology::Mongodb));
    assert!(hotel.services.iter().any(|s| s.technology == Technology::Memcached));
}
