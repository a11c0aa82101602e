//! `x509_decode(pem)`: the fields of an RSA certificate or certificate request that Kyverno exposes,
//! read with a small DER parser (Kyverno marshals Go's `x509.Certificate`, with `PublicKey.N` as a string).
use super::{JpResult, runtime};
use base64::Engine;
use serde_json::{Map, Value, json};

struct Der<'a> {
    data: &'a [u8],
}

#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(data: &'a [u8]) -> Self {
        Der { data }
    }

    fn next(&mut self) -> Option<Tlv<'a>> {
        let (&tag, rest) = self.data.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (body, after) = rest.split_at(len);
        self.data = after;
        Some(Tlv { tag, body })
    }

    fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        let tlv = self.next()?;
        (tlv.tag == tag).then_some(tlv)
    }

    fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;

/// Decimal text of a big-endian unsigned integer.
fn big_decimal(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if digits.is_empty() {
        return "0".into();
    }
    let mut out = Vec::new();
    while !digits.is_empty() {
        let mut rem = 0u32;
        let mut next = Vec::with_capacity(digits.len());
        for &b in &digits {
            let cur = (rem << 8) | u32::from(b);
            let q = cur / 10;
            rem = cur % 10;
            if !next.is_empty() || q != 0 {
                next.push(q as u8);
            }
        }
        out.push(b'0' + rem as u8);
        digits = next;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn big_f64(bytes: &[u8]) -> f64 {
    bytes.iter().fold(0.0, |acc, b| acc * 256.0 + f64::from(*b))
}

fn oid_text(body: &[u8]) -> String {
    let mut parts = Vec::new();
    if let Some((&first, rest)) = body.split_first() {
        parts.push(u64::from(first / 40));
        parts.push(u64::from(first % 40));
        let mut acc = 0u64;
        for &b in rest {
            acc = (acc << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                parts.push(acc);
                acc = 0;
            }
        }
    }
    parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

fn name(body: &[u8]) -> Value {
    let fields = [
        ("2.5.4.6", "Country"),
        ("2.5.4.10", "Organization"),
        ("2.5.4.11", "OrganizationalUnit"),
        ("2.5.4.7", "Locality"),
        ("2.5.4.8", "Province"),
        ("2.5.4.9", "StreetAddress"),
        ("2.5.4.17", "PostalCode"),
    ];
    let mut out = Map::new();
    for (_, field) in fields {
        out.insert(field.into(), Value::Null);
    }
    out.insert("SerialNumber".into(), Value::String(String::new()));
    out.insert("CommonName".into(), Value::String(String::new()));
    let mut names = Vec::new();
    let mut sets = Der::new(body);
    while let Some(set) = sets.next() {
        let mut atvs = Der::new(set.body);
        while let Some(atv) = atvs.next() {
            let mut inner = Der::new(atv.body);
            let (Some(oid), Some(val)) = (inner.next(), inner.next()) else { continue };
            let oid = oid_text(oid.body);
            let text = String::from_utf8_lossy(val.body).into_owned();
            names.push(json!({"Type": oid.split('.').filter_map(|p| p.parse::<u64>().ok()).collect::<Vec<_>>(), "Value": text}));
            if oid == "2.5.4.3" {
                out.insert("CommonName".into(), Value::String(text));
            } else if oid == "2.5.4.5" {
                out.insert("SerialNumber".into(), Value::String(text));
            } else if let Some((_, field)) = fields.iter().find(|(o, _)| *o == oid) {
                let entry = out.entry(field.to_string()).or_insert(Value::Null);
                if !entry.is_array() {
                    *entry = Value::Array(Vec::new());
                }
                if let Value::Array(items) = entry {
                    items.push(Value::String(text));
                }
            }
        }
    }
    out.insert("Names".into(), Value::Array(names));
    out.insert("ExtraNames".into(), Value::Null);
    Value::Object(out)
}

fn time(tlv: Tlv<'_>) -> Value {
    let s = String::from_utf8_lossy(tlv.body);
    let digits = s.trim_end_matches('Z');
    let (year, rest) = if tlv.tag == 0x17 {
        let yy: i32 = digits.get(..2).and_then(|y| y.parse().ok()).unwrap_or(0);
        (if yy >= 50 { 1900 + yy } else { 2000 + yy }, digits.get(2..).unwrap_or(""))
    } else {
        (digits.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0), digits.get(4..).unwrap_or(""))
    };
    let field = |i: usize| rest.get(i..i + 2).unwrap_or("00");
    Value::String(format!("{year:04}-{}-{}T{}:{}:{}Z", field(0), field(2), field(4), field(6), field(8)))
}

fn public_key(spki: &[u8]) -> JpResult<Value> {
    let mut d = Der::new(spki);
    let alg = d.expect(SEQUENCE).map_or_else(|| runtime("failed to parse subject public key info"), Ok)?;
    let oid = Der::new(alg.body).next().map(|t| oid_text(t.body)).unwrap_or_default();
    if oid != "1.2.840.113549.1.1.1" {
        return runtime("certificate should use rsa algorithm");
    }
    let bits = d.expect(BIT_STRING).map_or_else(|| runtime("failed to parse subject public key info"), Ok)?;
    let key = bits.body.get(1..).unwrap_or(&[]);
    let mut seq = Der::new(key);
    let body = seq.expect(SEQUENCE).map_or_else(|| runtime("failed to parse subject public key info"), Ok)?;
    let mut ints = Der::new(body.body);
    let (Some(n), Some(e)) = (ints.expect(INTEGER), ints.expect(INTEGER)) else {
        return runtime("failed to parse subject public key info");
    };
    Ok(json!({"N": big_decimal(n.body), "E": big_f64(e.body)}))
}

fn certificate(der: &[u8]) -> JpResult<Value> {
    let bad = || runtime("x509: malformed certificate");
    let mut outer = Der::new(der);
    let cert = outer.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let mut parts = Der::new(cert.body);
    let tbs = parts.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let mut t = Der::new(tbs.body);
    let mut version = 1.0;
    if t.peek_tag() == Some(0xa0) {
        let explicit = t.next().map_or_else(bad, Ok)?;
        version = Der::new(explicit.body).expect(INTEGER).map_or(0.0, |v| big_f64(v.body)) + 1.0;
    }
    let serial = t.expect(INTEGER).map_or_else(bad, Ok)?;
    let _signature = t.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let issuer = t.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let validity = t.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let subject = t.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let spki = t.next().map_or_else(bad, Ok)?;
    let mut v = Der::new(validity.body);
    let (Some(not_before), Some(not_after)) = (v.next(), v.next()) else {
        return runtime("x509: malformed certificate");
    };
    let b64 = |b: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(b));
    Ok(json!({
        "Raw": b64(der),
        "Version": version,
        "SerialNumber": big_f64(serial.body),
        "Issuer": name(issuer.body),
        "Subject": name(subject.body),
        "NotBefore": time(not_before),
        "NotAfter": time(not_after),
        "PublicKeyAlgorithm": 1,
        "PublicKey": public_key(spki.body)?,
    }))
}

fn request(der: &[u8]) -> JpResult<Value> {
    let bad = || runtime("x509: malformed certificate request");
    let mut outer = Der::new(der);
    let csr = outer.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let mut parts = Der::new(csr.body);
    let info = parts.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let mut i = Der::new(info.body);
    let version = i.expect(INTEGER).map_or_else(bad, Ok)?;
    let subject = i.expect(SEQUENCE).map_or_else(bad, Ok)?;
    let spki = i.next().map_or_else(bad, Ok)?;
    Ok(json!({
        "Version": big_f64(version.body),
        "Subject": name(subject.body),
        "PublicKeyAlgorithm": 1,
        "PublicKey": public_key(spki.body)?,
    }))
}

/// Decodes the first PEM block of `input`.
pub fn decode(input: &str) -> JpResult<Value> {
    let Some(start) = input.find("-----BEGIN ") else { return runtime("failed to decode PEM block") };
    let rest = &input[start + 11..];
    let Some(label_end) = rest.find("-----") else { return runtime("failed to decode PEM block") };
    let label = &rest[..label_end];
    let body_start = &rest[label_end + 5..];
    let Some(end) = body_start.find("-----END ") else { return runtime("failed to decode PEM block") };
    let b64: String = body_start[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der =
        base64::engine::general_purpose::STANDARD.decode(b64).or_else(|_| runtime("failed to decode PEM block"))?;
    match label {
        "CERTIFICATE" => certificate(&der),
        "CERTIFICATE REQUEST" => request(&der),
        _ => runtime("PEM block neither contains a CERTIFICATE or CERTIFICATE REQUEST"),
    }
}

#[cfg(test)]
mod tests {
    use super::big_decimal;

    #[test]
    fn big_integers_print_in_decimal() {
        assert_eq!(big_decimal(&[0x01, 0x00]), "256");
        assert_eq!(big_decimal(&[0x00, 0xff, 0xff]), "65535");
        assert_eq!(big_decimal(&[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]), "18446744073709551616");
        assert_eq!(big_decimal(&[]), "0");
    }
}
