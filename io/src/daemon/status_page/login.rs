//! The status page's login: with `--token`, a browser shows a form, posts
//! the token once (in a body, never in a URL that gets logged) and gets an
//! HttpOnly cookie that opens the page from then on.
//!
//! The cookie holds a digest of the token, not the token: whoever reads a
//! cookie jar learns a key to this page only, never the API's bearer
//! token. The cookie opens the page's GETs alone; the API still wants the
//! bearer token, so a page elsewhere cannot make a logged-in browser
//! schedule anything.

use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "harpoon_ui";

/// The cookie's value for `token`: a hex SHA-256 of it, under a label of
/// its own so that it is no digest the token may have elsewhere.
pub fn cookie_value(token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"harpoon status page session v1\0")
        .chain_update(token.as_bytes())
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The `Set-Cookie` value that logs a browser in.
pub fn login_cookie(token: &str) -> String {
    format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        cookie_value(token)
    )
}

/// The `Set-Cookie` value that logs it out.
pub fn logout_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether a request opens the page: its `Cookie` headers hold the
/// cookie for `token`, or its `Authorization` is the API's bearer token.
pub fn is_authorised(headers: &hyper::HeaderMap, token: &str) -> bool {
    let bearer = format!("Bearer {token}");
    if headers
        .get_all(hyper::header::AUTHORIZATION)
        .iter()
        .any(|value| equal_in_constant_time(value.as_bytes(), bearer.as_bytes()))
    {
        return true;
    }
    let expected = cookie_value(token);
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| {
            name == COOKIE && equal_in_constant_time(value.as_bytes(), expected.as_bytes())
        })
}

/// The `token` field of a form body (`application/x-www-form-urlencoded`),
/// decoded; `None` if there is none or it is not UTF-8.
pub fn token_from_form(body: &[u8]) -> Option<String> {
    body.split(|&byte| byte == b'&').find_map(|pair| {
        let (name, value) = match pair.iter().position(|&byte| byte == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        (name == b"token").then(|| form_decode(value)).flatten()
    })
}

fn form_decode(value: &[u8]) -> Option<String> {
    let plus_as_space: Vec<u8> = value
        .iter()
        .map(|&byte| if byte == b'+' { b' ' } else { byte })
        .collect();
    percent_encoding::percent_decode(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// Compares without stopping at the first difference, so that the time a
/// refusal takes says nothing of how much of a guess was right.
fn equal_in_constant_time(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> hyper::HeaderMap {
        let mut map = hyper::HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        map
    }

    #[test]
    fn the_cookie_or_the_bearer_token_opens_the_page_and_nothing_else_does() {
        let token = "s3cret";
        let cookie = format!("other=1; {COOKIE}={}", cookie_value(token));
        assert!(is_authorised(&headers(&[("cookie", &cookie)]), token));
        assert!(is_authorised(
            &headers(&[("authorization", "Bearer s3cret")]),
            token
        ));
        assert!(!is_authorised(&headers(&[]), token));
        assert!(!is_authorised(
            &headers(&[("cookie", &format!("{COOKIE}=s3cret"))]),
            token
        ));
        assert!(!is_authorised(
            &headers(&[("cookie", &format!("{COOKIE}={}", cookie_value("other")))]),
            token
        ));
        assert!(!is_authorised(
            &headers(&[("authorization", "Bearer s3cre")]),
            token
        ));
    }

    #[test]
    fn the_cookie_holds_no_token_and_is_http_only() {
        let cookie = login_cookie("s3cret");
        assert!(!cookie.contains("s3cret"));
        assert!(cookie.contains("HttpOnly"));
        assert!(cookie.contains("SameSite=Strict"));
    }

    #[test]
    fn the_token_is_read_from_a_form_body() {
        assert_eq!(
            token_from_form(b"token=a%20b+c%26d"),
            Some("a b c&d".to_owned())
        );
        assert_eq!(token_from_form(b"x=1&token=t"), Some("t".to_owned()));
        assert_eq!(token_from_form(b"x=1"), None);
        assert_eq!(token_from_form(b"token=%FF"), None);
    }
}
