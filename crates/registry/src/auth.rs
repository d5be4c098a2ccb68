//! Registry authentication: `WWW-Authenticate` challenges (Basic and Bearer), and bearer tokens
//! cached per scope until they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a registry asked to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: Option<String>,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scope the registry said it needs, if it said.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value; Bearer wins when several challenges are offered.
/// Unknown schemes (Negotiate, ...) give `None`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let mut found = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == ',')
            .unwrap_or(rest.len());
        let scheme = rest[..end].to_ascii_lowercase();
        rest = rest[end..].trim_start_matches([',', ' ', '\t']);
        let (params, after) = parse_params(rest);
        rest = after;
        match scheme.as_str() {
            "bearer" => {
                if let Some(realm) = params.get("realm") {
                    found.push(Challenge::Bearer {
                        realm: realm.clone(),
                        service: params.get("service").cloned(),
                        scope: params.get("scope").cloned(),
                    });
                }
            }
            "basic" => found.push(Challenge::Basic {
                realm: params.get("realm").cloned(),
            }),
            _ => {}
        }
    }
    found
        .iter()
        .find(|c| matches!(c, Challenge::Bearer { .. }))
        .or(found.first())
        .cloned()
}

/// Parses `k=v, k="quoted, \"v\""` up to the next challenge (a bare token not followed by `=`).
fn parse_params(mut s: &str) -> (HashMap<String, String>, &str) {
    let mut params = HashMap::new();
    loop {
        s = s.trim_start_matches([',', ' ', '\t']);
        let key_end = s
            .find(|c: char| c == '=' || c == ',' || c.is_ascii_whitespace())
            .unwrap_or(s.len());
        if key_end == 0 || !s[key_end..].trim_start().starts_with('=') {
            // End of input, or the next challenge's scheme.
            return (params, s);
        }
        let key = s[..key_end].to_ascii_lowercase();
        s = s[key_end..].trim_start()[1..].trim_start();
        let value;
        if let Some(quoted) = s.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut consumed = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        consumed = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            value = out;
            s = &quoted[consumed..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_string();
            s = &s[end..];
        }
        params.insert(key, value);
    }
}

/// The URL of a token request: the realm with `service` and one `scope` parameter per scope.
pub fn token_url(realm: &str, service: Option<&str>, scopes: &[String]) -> String {
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    let mut push = |k: &str, v: &str| {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&query_escape(v));
        sep = '&';
    };
    if let Some(service) = service {
        push("service", service);
    }
    for scope in scopes {
        push("scope", scope);
    }
    url
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A token endpoint's answer. Docker's uses `token`, OAuth2's `access_token`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token, and how long to keep it (the spec's default is 60 s).
    pub fn into_token(self) -> Option<(String, Duration)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let secs = self.expires_in.filter(|s| *s >= 60).unwrap_or(60);
        Some((token, Duration::from_secs(secs)))
    }
}

/// Bearer tokens of one registry by scope set.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    pub fn key(scopes: &[String]) -> String {
        let mut s = scopes.to_vec();
        s.sort();
        s.join(" ")
    }

    pub fn get(&self, scopes: &[String]) -> Option<String> {
        let tokens = self.tokens.lock().unwrap();
        tokens
            .get(&Self::key(scopes))
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    pub fn put(&self, scopes: &[String], token: String, valid_for: Duration) {
        // Renew a little early so a token does not expire mid-request.
        let until = Instant::now() + valid_for.saturating_sub(Duration::from_secs(10));
        self.tokens
            .lock()
            .unwrap()
            .insert(Self::key(scopes), (token, until));
    }

    pub fn forget(&self, scopes: &[String]) {
        self.tokens.lock().unwrap().remove(&Self::key(scopes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic {
                realm: Some("basic-realm".into())
            })
        );
        assert_eq!(
            parse_challenge("basic"),
            Some(Challenge::Basic { realm: None })
        );
        // Spaces, unquoted values, escapes, case, and several challenges.
        let c = parse_challenge(
            r#"Basic realm="x", BEARER Realm = "http://127.0.0.1:1/t?a=b" , service=reg, scope="repository:a:pull,push" , error="insufficient_scope""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/t?a=b".into(),
                service: Some("reg".into()),
                scope: Some("repository:a:pull,push".into()),
            })
        );
        let c = parse_challenge(r#"Bearer realm="a\"b""#).unwrap();
        assert!(matches!(c, Challenge::Bearer { realm, .. } if realm == "a\"b"));
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn builds_token_urls() {
        let scopes = vec![
            "repository:a/b:pull,push".to_string(),
            "repository:c:pull".to_string(),
        ];
        assert_eq!(
            token_url("https://auth.io/token", Some("reg.io"), &scopes),
            "https://auth.io/token?service=reg.io&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%3Apull"
        );
        assert_eq!(token_url("http://x/t?a=1", None, &[]), "http://x/t?a=1");
        assert_eq!(
            token_url("http://x/t?a=1", Some("s"), &[]),
            "http://x/t?a=1&service=s"
        );
    }

    #[test]
    fn token_response_and_cache() {
        let r: TokenResponse =
            serde_json::from_str(r#"{"token": "t1", "expires_in": 300}"#).unwrap();
        assert_eq!(
            r.into_token(),
            Some(("t1".into(), Duration::from_secs(300)))
        );
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token": "t2", "expires_in": 5}"#).unwrap();
        assert_eq!(r.into_token(), Some(("t2".into(), Duration::from_secs(60))));
        let r: TokenResponse = serde_json::from_str(r#"{"token": ""}"#).unwrap();
        assert_eq!(r.into_token(), None);

        let cache = TokenCache::default();
        let a = vec![
            "repository:a:pull".to_string(),
            "repository:b:pull".to_string(),
        ];
        let b = vec![a[1].clone(), a[0].clone()];
        cache.put(&a, "tok".into(), Duration::from_secs(60));
        assert_eq!(cache.get(&b).as_deref(), Some("tok"));
        assert_eq!(cache.get(&a[..1]), None);
        cache.put(&a[..1], "short".into(), Duration::from_secs(5));
        assert_eq!(cache.get(&a[..1]), None, "expired tokens are not used");
        cache.forget(&a);
        assert_eq!(cache.get(&a), None);
    }
}
