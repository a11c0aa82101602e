//! Images as the container runtime reports them: the normalised reference (`docker.io/library/nginx:1.25`),
//! a content digest for `imageID`, a size, and how long a pull takes.
use crate::controllers::hash::Fnv32a;
use std::time::Duration;

/// `nginx:1.25` → `docker.io/library/nginx:1.25`; `ghcr.io/x/y` → `ghcr.io/x/y:latest`.
pub fn normalize(image: &str) -> String {
    let (name, suffix) = match image.find('@') {
        Some(at) => (&image[..at], &image[at..]),
        None => {
            let last_slash = image.rfind('/').map_or(0, |i| i + 1);
            match image[last_slash..].rfind(':') {
                Some(colon) => (&image[..last_slash + colon], &image[last_slash + colon..]),
                None => (image, ":latest"),
            }
        }
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{suffix}")
}

fn hash(text: &str, salt: u8) -> u32 {
    let mut hasher = Fnv32a::default();
    hasher.write(&[salt]);
    hasher.write(text.as_bytes());
    hasher.finish()
}

/// A stable sha256-shaped digest of the image (the lab's registry has no real content).
pub fn digest(image: &str) -> String {
    (0u8..8).map(|i| format!("{:08x}", hash(image, i))).collect()
}

/// `imageID` as containerd reports it: `docker.io/library/nginx@sha256:...`.
pub fn image_id(image: &str) -> String {
    let normalized = normalize(image);
    let repository = match normalized.find('@') {
        Some(at) => &normalized[..at],
        None => {
            let last_slash = normalized.rfind('/').map_or(0, |i| i + 1);
            match normalized[last_slash..].rfind(':') {
                Some(colon) => &normalized[..last_slash + colon],
                None => &normalized,
            }
        }
    };
    format!("{repository}@sha256:{}", digest(image))
}

/// The image's compressed size in bytes: 20–400 MB, stable per image.
pub fn size_bytes(image: &str) -> u64 {
    20_000_000 + u64::from(hash(image, 42)) % 380_000_000
}

/// How long pulling takes: a base latency plus the size at 60 MB/s, scaled by `jitter` (0.8–1.2).
pub fn pull_duration(image: &str, jitter: f64) -> Duration {
    let seconds = 0.3 + size_bytes(image) as f64 / 60_000_000.0;
    Duration::from_secs_f64(seconds * jitter.clamp(0.5, 2.0))
}

/// Go's `time.Duration.String()` for the durations kubelet messages print: `812ms`, `2.345s`, `1m4.5s`.
pub fn go_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let total = duration.as_secs_f64();
    let minutes = (total / 60.0).floor() as u64;
    let seconds = total - (minutes * 60) as f64;
    let seconds = format!("{seconds:.3}");
    let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
    if minutes > 0 { format!("{minutes}m{seconds}s") } else { format!("{seconds}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_normalise_like_containerd() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"),
            ("ghcr.io/shop/cart:v2", "ghcr.io/shop/cart:v2"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input), expected, "{input}");
        }
        let id = image_id("nginx:1.25");
        assert!(id.starts_with("docker.io/library/nginx@sha256:"), "{id}");
        assert_eq!(id.len(), "docker.io/library/nginx@sha256:".len() + 64);
        assert_eq!(image_id("nginx:1.25"), id);
        assert_ne!(image_id("nginx:1.26"), id);
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_millis(812)), "812ms");
        assert_eq!(go_duration(Duration::from_millis(2345)), "2.345s");
        assert_eq!(go_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(go_duration(Duration::from_millis(64_500)), "1m4.5s");
        let pull = pull_duration("nginx:1.25", 1.0);
        assert!(pull > Duration::from_millis(300) && pull < Duration::from_secs(8), "{pull:?}");
    }
}
