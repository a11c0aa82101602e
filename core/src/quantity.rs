//! Kubernetes resource quantities (`250m`, `1.5`, `512Mi`, `1G`), enough to compare and recommend limits.
use std::fmt;

/// A quantity in its base unit: bytes for memory, millicores for CPU are obtained with the helpers below.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Quantity(f64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError(pub String);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid quantity {:?}", self.0)
    }
}

impl std::error::Error for QuantityError {}

const SUFFIXES: [(&str, f64); 14] = [
    ("Ki", 1024.0),
    ("Mi", 1024.0 * 1024.0),
    ("Gi", 1024.0 * 1024.0 * 1024.0),
    ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
];

impl Quantity {
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let s = text.trim();
        let err = || QuantityError(text.to_string());
        if s.is_empty() {
            return Err(err());
        }
        // Exponent form: 1e3, 12E6.
        if let Some((mantissa, exponent)) = s.split_once(['e', 'E'])
            && let (Ok(m), Ok(e)) = (mantissa.parse::<f64>(), exponent.parse::<i32>())
        {
            return Ok(Quantity(m * 10f64.powi(e)));
        }
        let (number, multiplier) =
            SUFFIXES.iter().find_map(|(suffix, mult)| s.strip_suffix(suffix).map(|n| (n, *mult))).unwrap_or((s, 1.0));
        let value: f64 = number.parse().map_err(|_| err())?;
        if !value.is_finite() || value < 0.0 {
            return Err(err());
        }
        Ok(Quantity(value * multiplier))
    }

    /// The value in base units (bytes, cores).
    pub fn value(self) -> f64 {
        self.0
    }

    pub fn bytes(self) -> u64 {
        self.0.round().max(0.0) as u64
    }

    pub fn millicores(self) -> u64 {
        (self.0 * 1000.0).round().max(0.0) as u64
    }
}

/// Bytes written the way a person would write a memory limit: whole `Gi` or `Mi`, rounded up to a Mi.
pub fn format_memory(bytes: u64) -> String {
    const MI: u64 = 1024 * 1024;
    const GI: u64 = 1024 * MI;
    let mi = bytes.div_ceil(MI);
    if (mi * MI).is_multiple_of(GI) && mi > 0 { format!("{}Gi", mi * MI / GI) } else { format!("{mi}Mi") }
}

/// Millicores as a CPU quantity (`500m`, `2`).
pub fn format_cpu(millicores: u64) -> String {
    if millicores.is_multiple_of(1000) { format!("{}", millicores / 1000) } else { format!("{millicores}m") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_kubernetes() {
        let table: &[(&str, f64)] = &[
            ("128Mi", 134_217_728.0),
            ("1Gi", 1_073_741_824.0),
            ("1G", 1e9),
            ("250m", 0.25),
            ("2", 2.0),
            ("1.5", 1.5),
            ("1e3", 1000.0),
            ("64Ki", 65_536.0),
        ];
        for (text, expected) in table {
            assert_eq!(Quantity::parse(text).unwrap().value(), *expected, "{text}");
        }
        for bad in ["", "abc", "12Xi", "-1Mi"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatting_rounds_up_to_whole_units() {
        assert_eq!(format_memory(256 * 1024 * 1024), "256Mi");
        assert_eq!(format_memory(2 * 1024 * 1024 * 1024), "2Gi");
        assert_eq!(format_memory(300 * 1024 * 1024 + 1), "301Mi");
        assert_eq!(format_cpu(1500), "1500m");
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(Quantity::parse("500m").unwrap().millicores(), 500);
    }
}
