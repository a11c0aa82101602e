use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn every_technology_has_the_essential_conditions_and_only_known_variables() {
    let book = PhraseBook::builtin();
    for tech in Technology::ALL {
        for required in ["starting", "ready", "config_rejected", "shutdown"] {
            assert!(book.lookup(tech, required).is_some(), "{tech} lacks {required}");
        }
        for key in book.keys(tech) {
            let condition = key.split('.').next().unwrap();
            assert!(Condition::parse(condition).is_some(), "{tech}: unknown condition {key}");
            for template in book.lookup(tech, key).unwrap() {
                for var in template.variables() {
                    assert!(VARIABLES.contains(&var), "{tech}.{key}: unknown variable {var}");
                }
            }
        }
    }
    for tech in [Technology::Go, Technology::Java, Technology::Node, Technology::Python] {
        for required in ["dependency_refused", "dependency_timeout", "pool_exhausted", "too_many_connections", "crash"]
        {
            assert!(book.lookup(tech, required).is_some(), "{tech} lacks {required}");
        }
    }
    for tech in [Technology::Postgres, Technology::Mysql, Technology::Redis, Technology::Mongodb] {
        assert!(book.lookup(tech, "connections_exhausted").is_some(), "{tech}");
    }
    // Several phrasings for the conditions SREs grep for.
    assert!(book.lookup(Technology::Postgres, "connections_exhausted").unwrap().len() >= 2);
    assert!(book.lookup(Technology::Go, "config_rejected").unwrap().len() >= 2);
}

fn render(template: &Template, vars: &LogVars<'_>) -> String {
    let mut out = String::new();
    template.render(vars, &mut out);
    out
}

#[test]
fn lines_read_like_the_real_software() {
    let now: Timestamp = "2026-11-22T14:40:28.123456Z".parse().unwrap();
    let vars = LogVars {
        now: Some(now),
        dep: "cart-redis",
        dep_host: "cart-redis",
        dep_ip: "10.96.12.4",
        dep_port: 6379,
        ..Default::default()
    };
    let node = ServicePhrases::new(Technology::Node, &BTreeMap::new(), LogMode::Extend);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let line = render(node.choose(Condition::DependencyRefused, Some(Protocol::Redis), &mut rng).unwrap(), &vars);
    assert!(line.starts_with("[ioredis] Unhandled error event: Error: connect ECONNREFUSED 10.96.12.4:6379"), "{line}");

    let go = ServicePhrases::new(Technology::Go, &BTreeMap::new(), LogMode::Extend);
    let line = render(go.choose(Condition::DependencyRefused, Some(Protocol::Redis), &mut rng).unwrap(), &vars);
    assert!(line.contains("dial tcp 10.96.12.4:6379: connect: connection refused"), "{line}");

    let pg = ServicePhrases::new(Technology::Postgres, &BTreeMap::new(), LogMode::Extend);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let line = render(pg.choose(Condition::ConnectionsExhausted, None, &mut rng).unwrap(), &vars);
        assert!(line.starts_with("2026-11-22 14:40:28.123 UTC ["), "{line}");
        seen.insert(line.split("FATAL:  ").nth(1).unwrap().to_string());
    }
    assert!(seen.contains("sorry, too many clients already"));
    assert!(seen.contains("remaining connection slots are reserved for non-replication superuser connections"));

    let redis = ServicePhrases::new(Technology::Redis, &BTreeMap::new(), LogMode::Extend);
    let line = render(redis.choose(Condition::Ready, None, &mut rng).unwrap(), &vars);
    assert_eq!(line, "1:M 22 Nov 2026 14:40:28.123 * Ready to accept connections tcp");
}

#[test]
fn a_service_can_add_or_replace_phrasings() {
    let own = BTreeMap::from([("ready".to_string(), vec!["booted ${service} on ${port}".to_string()])]);
    let vars = LogVars { service: "billing", port: 9000, ..Default::default() };
    let replace = ServicePhrases::new(Technology::Go, &own, LogMode::Replace);
    let extend = ServicePhrases::new(Technology::Go, &own, LogMode::Extend);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..10 {
        let line = render(replace.choose(Condition::Ready, None, &mut rng).unwrap(), &vars);
        assert_eq!(line, "booted billing on 9000");
    }
    let lines: std::collections::BTreeSet<String> =
        (0..60).map(|_| render(extend.choose(Condition::Ready, None, &mut rng).unwrap(), &vars)).collect();
    assert!(lines.contains("booted billing on 9000") && lines.len() > 1, "{lines:?}");
    // A condition the software is silent in draws nothing.
    assert!(go_silent());
}

fn go_silent() -> bool {
    let go = ServicePhrases::new(Technology::Memcached, &BTreeMap::new(), LogMode::Extend);
    go.choose(Condition::MemoryPressure, None, &mut ChaCha8Rng::seed_from_u64(0)).is_none()
}

#[test]
fn seeds_decide_the_phrasing() {
    let go = ServicePhrases::new(Technology::Go, &BTreeMap::new(), LogMode::Extend);
    let draw = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..8)
            .map(|_| render(go.choose(Condition::ConfigRejected, None, &mut rng).unwrap(), &LogVars::default()))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(3), draw(3));
    assert!((0..5).any(|seed| draw(seed) != draw(3)));
}

#[test]
fn names_convert_like_the_frameworks_do() {
    assert_eq!(camel("cart-redis"), "CartRedis");
    assert_eq!(property_name("PAYMENT_TIMEOUT_MS"), "payment.timeout-ms");
}
