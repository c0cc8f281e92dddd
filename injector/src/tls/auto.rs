//! Auto-TLS certificates (injector.md §6.4): a CA generated once per process (ECDSA P-256, CN
//! `Agent Inject CA`, ten years) and serving leaves signed by it (ECDSA P-256, CN `Agent Inject
//! Service`, 30 days, SANs from `-tls-auto-hosts`: IP literals as IP SANs, the rest DNS), re-issued
//! once two thirds of their lifetime have passed (injector.md §6.4.1; upstream: 24 hours, at 90 %).
//! Every leaf of a process is signed by the same CA, so a renewal never changes the trust anchor.
//! The CA bundle published in the webhook
//! configuration keeps the previous CA next to the new one so a rollover never breaks admission.
//! Pure: time is passed in.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use super::TlsError;

/// Lifetime of a serving leaf (injector.md §6.4.1).
pub const LEAF_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Lifetime of the CA.
pub const CA_LIFETIME: Duration = Duration::from_secs(3650 * 24 * 3600);
/// Validity starts this long before "now" to absorb clock skew.
const BACKDATE: Duration = Duration::from_secs(60);

/// One serving certificate with its CA.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Bundle {
    /// When to issue the next leaf: once two thirds of its lifetime have passed.
    pub fn renew_at(&self) -> SystemTime {
        let life = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        self.not_before + life * 2 / 3
    }
}

/// The process's CA, which signs every leaf.
pub struct Generator {
    ca_key: KeyPair,
    ca_params: CertificateParams,
    ca_pem: String,
}

fn to_offset(t: SystemTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from(t)
}

impl Generator {
    /// A new CA, valid from one minute ago for ten years.
    pub fn new() -> Result<Self, TlsError> {
        Self::new_at(SystemTime::now())
    }

    pub fn new_at(now: SystemTime) -> Result<Self, TlsError> {
        let g = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(g)?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Agent Inject CA");
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.not_before = to_offset(now - BACKDATE);
        p.not_after = to_offset(now + CA_LIFETIME);
        p.serial_number = Some(random_serial());
        let ca_pem = p.self_signed(&ca_key).map_err(g)?.pem();
        Ok(Self {
            ca_key,
            ca_params: p,
            ca_pem,
        })
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A new serving leaf for `hosts`, valid from one minute before `now` for [`LEAF_LIFETIME`].
    pub fn leaf(&self, hosts: &[String], now: SystemTime) -> Result<Bundle, TlsError> {
        let g = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(g)?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Agent Inject Service");
        p.distinguished_name = dn;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        let not_before = now - BACKDATE;
        let not_after = now + LEAF_LIFETIME;
        p.not_before = to_offset(not_before);
        p.not_after = to_offset(not_after);
        p.serial_number = Some(random_serial());
        for h in hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
            p.subject_alt_names.push(match h.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    SanType::DnsName(h.to_string().try_into().map_err(|e: rcgen::Error| {
                        TlsError::Generate(format!("host {h:?}: {e}"))
                    })?)
                }
            });
        }
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = p.signed_by(&key, &issuer).map_err(g)?;
        Ok(Bundle {
            ca_pem: self.ca_pem.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_before,
            not_after,
        })
    }
}

/// A random positive serial below 2^159.
fn random_serial() -> rcgen::SerialNumber {
    let mut b: [u8; 20] = rand::random();
    b[0] &= 0x7f;
    rcgen::SerialNumber::from_slice(&b)
}

/// The caBundle to publish: the last certificate of the `old` bundle (if any, and not already the
/// new CA) followed by the new CA, so pods admitted by either replica's CA keep working.
pub fn rollover_bundle(old: &str, new_ca: &str) -> String {
    let last = old
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
        .last()
        .map(|c| c.trim().to_string());
    match last {
        Some(prev) if prev != new_ca.trim() => format!("{prev}\n{}", new_ca.trim_start()),
        _ => new_ca.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pem: &str) -> x509_parser::pem::Pem {
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1
    }

    #[test]
    fn leaf_has_upstreams_shape_and_chains_to_the_ca() {
        let now = SystemTime::now();
        let g = Generator::new_at(now).unwrap();
        let b = g
            .leaf(
                &[
                    "injector".into(),
                    "injector.ns.svc".into(),
                    "127.0.0.1".into(),
                    "".into(),
                ],
                now,
            )
            .unwrap();
        let pem = parse(&b.cert_pem);
        let cert = pem.parse_x509().unwrap();
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "Agent Inject Service"
        );
        assert_eq!(
            cert.issuer()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "Agent Inject CA"
        );
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        let life = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert_eq!(life, 30 * 24 * 3600 + 60);
        let ca_pem = parse(g.ca_pem());
        let ca = ca_pem.parse_x509().unwrap();
        assert!(ca.is_ca());
        // The leaf names the CA's key (the TLS tests check the signature through a handshake).
        let ski = ca
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                    Some(k.0.to_vec())
                }
                _ => None,
            })
            .expect("CA has a subject key id");
        let aki = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(k) => {
                    k.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            })
            .expect("leaf has an authority key id");
        assert_eq!(ski, aki);
        assert!(b.key_pem.contains("PRIVATE KEY"));
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_lifetime_with_the_same_ca() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let g = Generator::new_at(now).unwrap();
        let b = g.leaf(&["x".into()], now).unwrap();
        let life = LEAF_LIFETIME + BACKDATE;
        assert_eq!(b.renew_at(), b.not_before + life * 2 / 3);
        // 30 days: renewed after 20, ten days before expiry.
        let day = Duration::from_secs(24 * 3600);
        assert!(b.renew_at() > now + 19 * day && b.renew_at() < now + 21 * day);
        assert!(b.not_after.duration_since(b.renew_at()).unwrap() > 9 * day);
        // The next leaf, issued at renewal, chains to the same CA.
        let next = g.leaf(&["x".into()], b.renew_at()).unwrap();
        assert_eq!(next.ca_pem, b.ca_pem);
        assert_ne!(next.cert_pem, b.cert_pem);
    }

    #[test]
    fn rollover_keeps_the_previous_ca_once() {
        let a = Generator::new().unwrap();
        let b = Generator::new().unwrap();
        assert_eq!(rollover_bundle("", a.ca_pem()), a.ca_pem());
        let ab = rollover_bundle(a.ca_pem(), b.ca_pem());
        assert_eq!(ab.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(ab.starts_with(a.ca_pem().trim()));
        // Rolling again keeps only the last of the old bundle.
        let c = Generator::new().unwrap();
        let bc = rollover_bundle(&ab, c.ca_pem());
        assert_eq!(bc.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(bc.starts_with(b.ca_pem().trim()));
        assert_eq!(rollover_bundle(b.ca_pem(), b.ca_pem()), b.ca_pem());
    }
}
