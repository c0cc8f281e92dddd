//! The JSON shapes of Vault's answers. Tokens inside them are redacted from `Debug`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Vault response (`/v1/...`), as the Go API client's `Secret`.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Secret {
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub lease_id: String,
    #[serde(default)]
    pub lease_duration: i64,
    #[serde(default)]
    pub renewable: bool,
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    #[serde(default)]
    pub wrap_info: Option<WrapInfo>,
    #[serde(default)]
    pub auth: Option<SecretAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_type: Option<String>,
    /// `data` with every number as the literal text the server sent (agent.md §0.1); templates
    /// render from this, never from `data`, whose numbers serde_json normalises (`1e3` → `1e+3`).
    #[serde(skip)]
    pub data_literal: Option<crate::json::Json>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("request_id", &self.request_id)
            .field("lease_id", &self.lease_id)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field(
                "data",
                &self
                    .data
                    .as_ref()
                    .map(|d| d.keys().cloned().collect::<Vec<_>>()),
            )
            .field("warnings", &self.warnings)
            .field("wrap_info", &self.wrap_info)
            .field("auth", &self.auth)
            .finish()
    }
}

/// The `auth` block of a login or token answer.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct SecretAuth {
    #[serde(default)]
    pub client_token: String,
    #[serde(default)]
    pub accessor: String,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub token_policies: Vec<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub lease_duration: i64,
    #[serde(default)]
    pub renewable: bool,
    #[serde(default)]
    pub entity_id: String,
    #[serde(default)]
    pub token_type: String,
    #[serde(default)]
    pub orphan: bool,
}

impl std::fmt::Debug for SecretAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretAuth")
            .field("client_token", &"<redacted>")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("token_type", &self.token_type)
            .finish()
    }
}

/// The `wrap_info` block of a wrapped answer.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct WrapInfo {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub accessor: String,
    #[serde(default)]
    pub ttl: i64,
    #[serde(default)]
    pub creation_time: String,
    #[serde(default)]
    pub creation_path: String,
    #[serde(default)]
    pub wrapped_accessor: String,
}

impl std::fmt::Debug for WrapInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrapInfo")
            .field("token", &"<redacted>")
            .field("ttl", &self.ttl)
            .field("creation_path", &self.creation_path)
            .finish()
    }
}

/// A response body that is not a Vault answer.
#[derive(Debug, thiserror::Error)]
#[error("not a Vault response: {0}")]
pub struct NotAResponse(String);

impl Secret {
    /// Decodes a response body, filling [`Secret::data_literal`] from the same text.
    pub fn from_json(body: &[u8]) -> Result<Secret, NotAResponse> {
        #[derive(Deserialize)]
        struct RawData<'a> {
            #[serde(borrow, default)]
            data: Option<&'a serde_json::value::RawValue>,
        }
        let mut secret: Secret =
            serde_json::from_slice(body).map_err(|e| NotAResponse(e.to_string()))?;
        let raw: RawData<'_> =
            serde_json::from_slice(body).map_err(|e| NotAResponse(e.to_string()))?;
        if let Some(d) = raw.data {
            secret.data_literal =
                Some(crate::json::Json::parse(d.get()).map_err(|e| NotAResponse(e.to_string()))?);
        }
        Ok(secret)
    }

    /// The inverse of [`Secret::from_json`]: the answer as JSON text, `data` written from
    /// [`Secret::data_literal`] when present so that numbers keep their literal text. Used to hand a
    /// leased answer from the init container to the sidecar (agent.md §7.3).
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).expect("a Secret serialises");
        let literal = self.data_literal.as_ref().map(|d| d.to_go_json());
        if literal.is_some()
            && let Some(m) = v.as_object_mut()
        {
            m.remove("data");
        }
        let rest = v.to_string();
        match literal {
            Some(data) if rest == "{}" => format!("{{\"data\":{data}}}"),
            Some(data) => format!("{{\"data\":{data},{}", &rest[1..]),
            None => rest,
        }
    }

    /// `data[key]` as a string, if present.
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.as_ref()?.get(key)?.as_str()
    }

    /// The TTL a token lookup reports (`data.ttl`), in seconds.
    pub fn token_ttl(&self) -> Option<i64> {
        self.data.as_ref()?.get("ttl")?.as_i64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_tokens_or_data_values() {
        let s: Secret = serde_json::from_str(
            r#"{"data":{"password":"hunter2"},"auth":{"client_token":"s.secret","accessor":"acc"},
               "wrap_info":{"token":"s.wrapped","ttl":300}}"#,
        )
        .unwrap();
        let d = format!("{s:?}");
        assert!(
            !d.contains("hunter2") && !d.contains("s.secret") && !d.contains("s.wrapped"),
            "{d}"
        );
        assert!(d.contains("password") && d.contains("acc"));
    }

    #[test]
    fn numbers_keep_their_literal_text() {
        use crate::json::Json;
        let s =
            Secret::from_json(br#"{"data":{"a":1e3,"b":12345678901234567890,"c":1.0}}"#).unwrap();
        let d = s.data_literal.unwrap();
        assert_eq!(d.get("a"), Some(&Json::Number("1e3".into())));
        assert_eq!(
            d.get("b"),
            Some(&Json::Number("12345678901234567890".into()))
        );
        assert_eq!(d.get("c"), Some(&Json::Number("1.0".into())));
        assert!(Secret::from_json(b"{\"data\": [").is_err());
    }

    #[test]
    fn to_json_round_trips_with_literal_numbers() {
        let body = br#"{"lease_id":"database/creds/app/abc","lease_duration":3600,"renewable":true,"data":{"n":1e3,"username":"v-app"}}"#;
        let s = Secret::from_json(body).unwrap();
        let back = Secret::from_json(s.to_json().as_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            back.data_literal.unwrap().get("n"),
            Some(&crate::json::Json::Number("1e3".into()))
        );
        let empty = Secret::default();
        assert_eq!(
            Secret::from_json(empty.to_json().as_bytes()).unwrap(),
            empty
        );
    }
}
