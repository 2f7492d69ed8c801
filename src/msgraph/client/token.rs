//! The client-credentials token: fetched, cached, refreshed early.
//!
//! Design decisions, and why:
//!
//! * **The secret is posted to the authority and nowhere else.** The HTTP
//!   client follows no redirects at all, and a 3xx from the token endpoint
//!   is an error: reqwest (like browsers) re-posts the body on a 307 or
//!   308, which would hand the client secret to whatever origin the
//!   `Location` names. Microsoft's v2.0 token endpoint answers directly.
//! * **Nothing the server says can make arithmetic panic.** `expires_in`
//!   may be a number or a string (the v1 endpoint sent strings) and is
//!   clamped to one second .. one day before it is added to an `Instant`;
//!   `u64::MAX` would otherwise overflow.
//! * **The token endpoint shares the request chain's budget.** Its waits
//!   (Retry-After or backoff) are capped by the retry budget like any
//!   Graph call, are announced like them, and an HTML page or other
//!   non-JSON answer fails at once: it is a wrong `--authority-url` or a
//!   proxy's sign-in page, not something a retry fixes.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::body::{parse_json, read_limited, BodyProblem, NotJson};
use super::{path_of, retry_after, transport_text, GraphClient, Wait};
use crate::msgraph::error::{ApiError, GraphError};

/// The longest token life believed; longer claims are clamped.
const MAX_TOKEN_LIFE: Duration = Duration::from_secs(24 * 3600);

/// A token response is small; anything past this is not one.
const MAX_TOKEN_BODY: usize = 1 << 20;

pub(super) struct Token {
    pub(super) value: String,
    pub(super) refresh_at: Instant,
}

/// What one token request led to.
enum TokenStep {
    Done(Token),
    Retry { delay: Option<Duration>, why: String },
}

impl GraphClient {
    /// A valid access token, fetched or refreshed when needed.
    pub async fn token(&self) -> Result<String, GraphError> {
        self.token_until(Instant::now() + self.inner.config.retry.budget).await
    }

    /// [`GraphClient::token`] within the request chain ending at `deadline`.
    pub(super) async fn token_until(&self, deadline: Instant) -> Result<String, GraphError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        let fresh = self.fetch_token(deadline).await?;
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    fn token_url(&self) -> String {
        let config = &self.inner.config;
        format!("{}/{}/oauth2/v2.0/token", config.authority, config.credentials.tenant)
    }

    async fn fetch_token(&self, deadline: Instant) -> Result<Token, GraphError> {
        let config = &self.inner.config;
        let url = self.token_url();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let step = match tokio::time::timeout(remaining, self.token_attempt(&url)).await {
                Ok(step) => step?,
                Err(_) => TokenStep::Retry { delay: None, why: "no complete answer in time".into() },
            };
            let (delay, why) = match step {
                TokenStep::Done(token) => return Ok(token),
                TokenStep::Retry { delay, why } => (delay.unwrap_or_else(|| self.backoff(attempt)), why),
            };
            let exhausted = |last: String| GraphError::RetriesExhausted {
                method: "POST".into(),
                path: path_of(&url),
                attempts: attempt,
                last,
            };
            if attempt >= config.retry.max_attempts.max(1) {
                return Err(exhausted(why));
            }
            self.check_wait(delay, deadline).map_err(|limit| exhausted(format!("{why}; {limit}")))?;
            self.inner.config.observer.notify(&Wait {
                request: format!("POST {}", path_of(&url)),
                delay,
                why,
                attempt: attempt + 1,
            });
            tokio::time::sleep(delay).await;
        }
    }

    async fn token_attempt(&self, url: &str) -> Result<TokenStep, GraphError> {
        let config = &self.inner.config;
        let scope = format!("{}/.default", config.graph_root);
        let form = [
            ("client_id", config.credentials.client_id.as_str()),
            ("client_secret", config.credentials.secret.expose()),
            ("scope", scope.as_str()),
            ("grant_type", "client_credentials"),
        ];
        let started = Instant::now();
        let sent = self.inner.http.post(url).header("Accept", "application/json").form(&form).send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Ok(TokenStep::Retry { delay: None, why: transport_text(&e) }),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if (300..400).contains(&status) {
            return Err(GraphError::Redirected {
                method: "POST".into(),
                path: path_of(url),
                status,
                to: super::location_origin(&headers),
                secret: true,
            });
        }
        let body = match read_limited(response, MAX_TOKEN_BODY).await {
            Ok(b) => b,
            Err(BodyProblem::Transport(e)) => {
                return Ok(TokenStep::Retry { delay: None, why: transport_text(&e) })
            }
            Err(BodyProblem::TooLarge { limit }) => {
                return Err(GraphError::Malformed {
                    path: path_of(url),
                    message: format!("token response larger than {limit} bytes"),
                })
            }
        };
        if matches!(status, 429 | 500 | 502 | 503 | 504) {
            let why = ApiError::parse(status, &body).to_string();
            return Ok(TokenStep::Retry { delay: retry_after(&headers, SystemTime::now()), why });
        }
        if !(200..300).contains(&status) {
            return Err(GraphError::Auth(ApiError::parse(status, &body)));
        }
        let malformed = |message: String| GraphError::Malformed { path: path_of(url), message };
        let value = match parse_json(&headers, &body) {
            Ok(v) => v,
            Err(NotJson::Truncated(why)) => return Ok(TokenStep::Retry { delay: None, why }),
            Err(NotJson::Other(why)) => {
                return Err(malformed(format!(
                    "the token endpoint answered {why}; check --authority-url (or the proxy in between)"
                )))
            }
        };
        let token = token_from(&value, started).map_err(malformed)?;
        self.inner.counters.tokens.fetch_add(1, Ordering::Relaxed);
        Ok(TokenStep::Done(token))
    }
}

/// Reads a v2.0 client-credentials response (`access_token`, `expires_in`
/// as a number or a numeric string), clamping the life it claims.
fn token_from(value: &Value, started: Instant) -> Result<Token, String> {
    let access = value
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("the token response has no access_token")?;
    let secs = match value.get("expires_in") {
        None | Some(Value::Null) => 3599,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(if n.as_i64().is_some() { 1 } else { u64::MAX }),
        Some(Value::String(s)) => s.trim().parse::<u64>().unwrap_or(3599),
        Some(_) => return Err("the token response's expires_in is not a number".into()),
    };
    let life = Duration::from_secs(secs.max(1)).min(MAX_TOKEN_LIFE);
    let early = Duration::from_secs(300).min(life / 2);
    let refresh_at = started.checked_add(life - early).unwrap_or(started);
    Ok(Token { value: access.to_string(), refresh_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_expiry_is_clamped_without_overflow() -> Result<(), String> {
        let now = Instant::now();
        for (raw, life) in [
            (serde_json::json!(u64::MAX), MAX_TOKEN_LIFE),
            (serde_json::json!(1e19), MAX_TOKEN_LIFE),
            (serde_json::json!("10000000000000000000"), MAX_TOKEN_LIFE),
            (serde_json::json!(-5), Duration::from_secs(1)),
            (serde_json::json!(0), Duration::from_secs(1)),
            (serde_json::json!("3599"), Duration::from_secs(3599)),
        ] {
            let t = token_from(&serde_json::json!({"access_token": "t", "expires_in": raw}), now)?;
            let early = Duration::from_secs(300).min(life / 2);
            assert_eq!(t.refresh_at - now, life - early, "{raw}");
        }
        assert!(token_from(&serde_json::json!({"expires_in": 5}), now).is_err());
        Ok(())
    }
}
