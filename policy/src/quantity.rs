//! Kubernetes resource quantities (k8s.io/apimachinery `resource.ParseQuantity`), compared exactly.
use std::cmp::Ordering;

/// How the quantity was written, kept so that arithmetic can print results in the operand's style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

/// A parsed quantity: `mantissa × 10^exp10`, exact.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
    pub format: Format,
}

const MAX_DIGITS: usize = 30;

impl Quantity {
    /// Parses a quantity such as `500m`, `1.5Gi`, `2e3` or `-10`.
    pub fn parse(s: &str) -> Option<Quantity> {
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            return None;
        }
        let mut i = 0;
        let negative = match bytes[0] {
            b'+' => {
                i += 1;
                false
            }
            b'-' => {
                i += 1;
                true
            }
            _ => false,
        };
        let num_start = i;
        let mut digits = String::new();
        let mut frac_len = 0i32;
        let mut seen_dot = false;
        while i < bytes.len() {
            match bytes[i] {
                b'0'..=b'9' => {
                    digits.push(bytes[i] as char);
                    if seen_dot {
                        frac_len += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => break,
            }
            i += 1;
        }
        if digits.is_empty() || i == num_start {
            return None;
        }
        let suffix = &s[i..];
        let (exp10, pow2, format) = match suffix {
            "" => (0, 0, Format::DecimalSI),
            "Ki" => (0, 10, Format::BinarySI),
            "Mi" => (0, 20, Format::BinarySI),
            "Gi" => (0, 30, Format::BinarySI),
            "Ti" => (0, 40, Format::BinarySI),
            "Pi" => (0, 50, Format::BinarySI),
            "Ei" => (0, 60, Format::BinarySI),
            "n" => (-9, 0, Format::DecimalSI),
            "u" => (-6, 0, Format::DecimalSI),
            "m" => (-3, 0, Format::DecimalSI),
            "k" => (3, 0, Format::DecimalSI),
            "M" => (6, 0, Format::DecimalSI),
            "G" => (9, 0, Format::DecimalSI),
            "T" => (12, 0, Format::DecimalSI),
            "P" => (15, 0, Format::DecimalSI),
            "E" => (18, 0, Format::DecimalSI),
            other => {
                let rest = other.strip_prefix('e').or_else(|| other.strip_prefix('E'))?;
                let body = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-')).unwrap_or(rest);
                if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) || body.len() > 6 {
                    return None;
                }
                (rest.parse::<i32>().ok()?, 0, Format::DecimalExponent)
            }
        };
        // Drop leading zeros and keep at most MAX_DIGITS significant digits.
        let trimmed = digits.trim_start_matches('0');
        let mut exp = exp10 - frac_len;
        let kept = if trimmed.len() > MAX_DIGITS {
            exp += (trimmed.len() - MAX_DIGITS) as i32;
            &trimmed[..MAX_DIGITS]
        } else {
            trimmed
        };
        let mut mantissa: i128 = if kept.is_empty() { 0 } else { kept.parse().ok()? };
        if pow2 > 0 {
            mantissa = mantissa.checked_mul(1i128 << pow2)?;
        }
        if negative {
            mantissa = -mantissa;
        }
        Some(Quantity { mantissa, exp10: exp, format }.normalized())
    }

    fn normalized(mut self) -> Self {
        if self.mantissa == 0 {
            self.exp10 = 0;
            return self;
        }
        while self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.exp10 += 1;
        }
        self
    }

    /// A quantity from an integer.
    pub fn from_i64(v: i64) -> Quantity {
        Quantity { mantissa: v as i128, exp10: 0, format: Format::DecimalSI }.normalized()
    }

    pub fn as_f64(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exp10)
    }

    pub fn sign(&self) -> i32 {
        self.mantissa.signum() as i32
    }

    /// The value as an integer when it is one and fits in i64.
    pub fn as_i64(&self) -> Option<i64> {
        if self.exp10 < 0 {
            return None;
        }
        let scaled = self.mantissa.checked_mul(10i128.checked_pow(self.exp10 as u32)?)?;
        i64::try_from(scaled).ok()
    }

    pub fn is_integer(&self) -> bool {
        self.exp10 >= 0
    }

    fn aligned(&self, other: &Quantity) -> Option<(i128, i128, i32)> {
        let exp = self.exp10.min(other.exp10);
        let a = self.mantissa.checked_mul(10i128.checked_pow((self.exp10 - exp) as u32)?)?;
        let b = other.mantissa.checked_mul(10i128.checked_pow((other.exp10 - exp) as u32)?)?;
        Some((a, b, exp))
    }

    pub fn add(&self, other: &Quantity) -> Option<Quantity> {
        let (a, b, exp) = self.aligned(other)?;
        Some(Quantity { mantissa: a.checked_add(b)?, exp10: exp, format: self.format }.normalized())
    }

    pub fn sub(&self, other: &Quantity) -> Option<Quantity> {
        let (a, b, exp) = self.aligned(other)?;
        Some(Quantity { mantissa: a.checked_sub(b)?, exp10: exp, format: self.format }.normalized())
    }

    /// The canonical text Kubernetes would print (`Quantity.String()`), close enough for messages and
    /// arithmetic results: binary quantities use the largest exact binary suffix, others decimal SI.
    pub fn canonical(&self) -> String {
        if self.mantissa == 0 {
            return "0".into();
        }
        if self.format == Format::BinarySI
            && self.exp10 >= 0
            && let Some(v) = self.as_i64()
        {
            let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
            let mut idx = 0;
            let mut n = v;
            while idx < suffixes.len() - 1 && n % 1024 == 0 && n != 0 {
                n /= 1024;
                idx += 1;
            }
            return format!("{n}{}", suffixes[idx]);
        }
        // Decimal SI: choose an exponent that is a multiple of 3 and keeps the mantissa integral.
        let mut exp = self.exp10;
        let mut mantissa = self.mantissa;
        let rem = exp.rem_euclid(3);
        if rem != 0 {
            mantissa *= 10i128.pow(rem as u32);
            exp -= rem;
        }
        while exp < -9 {
            // Below nano Kubernetes rounds up; keep it simple and scale.
            mantissa = (mantissa + 9) / 10;
            exp += 1;
        }
        while exp > 18 {
            mantissa *= 1000;
            exp -= 3;
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        format!("{mantissa}{suffix}")
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.aligned(other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self.as_f64().partial_cmp(&other.as_f64()).unwrap_or(Ordering::Equal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn parses_and_compares() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1024Mi"), q("1Gi"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1k"), q("1e3"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert!(q("100m") < q("1"));
        assert!(q("2Gi") > q("2G"));
        assert!(q("-1") < q("0"));
        assert_eq!(q(".5"), q("0.5"));
        assert_eq!(q("5."), q("5"));
        for bad in ["", "abc", "1K", "1.2.3", "1Gib", " 1", "e3", "1e", "--1", "1 Gi"] {
            assert!(Quantity::parse(bad).is_none(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn prints_canonical_forms() {
        assert_eq!(q("1024Mi").canonical(), "1Gi");
        assert_eq!(q("1500m").canonical(), "1500m");
        assert_eq!(q("2000").canonical(), "2k");
        assert_eq!(q("1Gi").add(&q("1Gi")).unwrap().canonical(), "2Gi");
    }

    proptest! {
        #[test]
        fn integer_quantities_order_like_integers(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
            prop_assert_eq!(q(&a.to_string()).cmp(&q(&b.to_string())), a.cmp(&b));
        }

        #[test]
        fn binary_suffixes_scale_by_1024(a in 0i64..100_000) {
            prop_assert_eq!(q(&format!("{a}Ki")), q(&(a * 1024).to_string()));
            prop_assert_eq!(q(&format!("{a}Mi")), q(&format!("{}Ki", a * 1024)));
        }

        #[test]
        fn milli_is_a_thousandth(a in 0i64..1_000_000) {
            prop_assert_eq!(q(&format!("{a}m")), q(&format!("{}", a as f64 / 1000.0)));
        }
    }
}
