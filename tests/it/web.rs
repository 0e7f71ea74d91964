//! The web pages' defences, with a plain HTTP client (curl): cookie flags,
//! a new session id per login, CSRF tokens and `Origin` on every change,
//! security headers, no inline script, logins banned like elsewhere.

use std::process::Command;

use crate::https::HttpsEnv;
use crate::util::free_port;

/// curl with a cookie jar in the environment's directory.
fn curl(h: &HttpsEnv, jar: &str, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-k",
            "--max-time",
            "30",
            "-D",
            "-",
            "-o",
            "body.html",
        ])
        .args(["-b", jar, "-c", jar])
        .args(args)
        .current_dir(h.env.path())
        .output()
        .expect("curl is needed");
    let body = std::fs::read_to_string(h.env.path().join("body.html")).unwrap_or_default();
    (String::from_utf8_lossy(&out.stdout).to_lowercase(), body)
}

fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[start..start + 64].to_owned()
}

fn session_of(headers: &str) -> String {
    let start = headers.find("__host-ferry=").expect("a session cookie") + 13;
    headers[start..start + 64].to_owned()
}

/// The token of tenant `acme` in [`with_console`]'s environment.
pub const CONSOLE_TOKEN: &str = "acme-token-for-the-console-test-0123456789";

/// The HTTPS environment with an admin listener (the console) on a free
/// port, an operator's token and `acme`'s ([`CONSOLE_TOKEN`]).
pub fn with_console() -> (HttpsEnv, u16) {
    let admin = free_port();
    let h = HttpsEnv::with(|config| {
        config
            .replace(
                "data_dir = \"data\"\n",
                &format!(
                    "data_dir = \"data\"\n\n[admin]\naddress = \"127.0.0.1:{admin}\"\n\
                     token_file = \"operator.token\"\n"
                ),
            )
            .replacen(
                "[tenants.acme.partners.alice]",
                "[tenants.acme]\napi_token_file = \"acme.token\"\n\n[tenants.acme.partners.alice]",
                1,
            )
    });
    std::fs::write(h.env.path().join("acme.token"), CONSOLE_TOKEN).unwrap();
    std::fs::write(
        h.env.path().join("operator.token"),
        "operator-token-for-the-console-test-0123456789",
    )
    .unwrap();
    (h, admin)
}

#[test]
fn the_partner_web_client_defends_its_session() {
    let h = HttpsEnv::new();
    let _server = h.env.serve();
    let origin = h.url("");
    let origin_header = format!("Origin: {origin}");

    let (headers, login_page) = curl(&h, "jar", &[&h.url("/")]);
    for expected in [
        "content-security-policy: default-src 'none'; script-src 'self'",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "cache-control: no-store",
    ] {
        assert!(headers.contains(expected), "no {expected}: {headers}");
    }
    assert!(login_page.contains("action=\"/login\""), "{login_page}");

    // A login posted from another site is refused before the password
    // is looked at.
    let (refused, _) = curl(
        &h,
        "jar",
        &[
            "-H",
            "Origin: https://evil.example",
            "-d",
            "user=alice&password=alice-pass",
            &h.url("/login"),
        ],
    );
    assert!(refused.starts_with("http/1.1 403"), "{refused}");

    let login = ["-H", &origin_header, "-d", "user=alice&password=alice-pass"];
    let (first, _) = curl(&h, "jar", &[&login[..], &[&h.url("/login")]].concat());
    assert!(first.starts_with("http/1.1 303"), "{first}");
    for flag in ["; path=/", "; secure", "; httponly", "; samesite=strict"] {
        assert!(first.contains(flag), "no {flag} in {first}");
    }
    let (second, _) = curl(&h, "jar", &[&login[..], &[&h.url("/login")]].concat());
    assert_ne!(
        session_of(&first),
        session_of(&second),
        "a login reuses a session id"
    );

    let (_, page) = curl(&h, "jar", &[&h.url("/")]);
    assert!(page.contains("id=\"upload\""), "{page}");
    assert!(!page.contains("<script>"), "an inline script: {page}");
    assert!(!page.contains(" style="), "an inline style: {page}");
    let csrf = csrf_of(&page);
    std::fs::write(h.env.path().join("f.txt"), "hello\n").unwrap();

    // The file API with the cookie: no token, a wrong token, another
    // site: refused; the page's token from this site: stored.
    let put = |extra: &[&str]| {
        let mut args = vec!["-T", "f.txt"];
        args.extend_from_slice(extra);
        let url = h.url("/inbox/f.txt");
        args.push(&url);
        curl(&h, "jar", &args).0
    };
    assert!(put(&["-H", &origin_header]).starts_with("http/1.1 403"));
    assert!(put(&["-H", &origin_header, "-H", "X-CSRF-Token: 00"]).starts_with("http/1.1 403"));
    let token = format!("X-CSRF-Token: {csrf}");
    assert!(put(&["-H", "Origin: https://evil.example", "-H", &token]).starts_with("http/1.1 403"));
    let stored = put(&["-H", &origin_header, "-H", &token]);
    assert!(stored.contains("http/1.1 201"), "{stored}");

    // Forms: a stale token is refused.
    let (stale, _) = curl(
        &h,
        "jar",
        &[
            "-H",
            &origin_header,
            "-d",
            "csrf=0000&name=f.txt",
            &h.url("/resend"),
        ],
    );
    assert!(stale.starts_with("http/1.1 403"), "{stale}");

    // Logging out ends the session on the server, not only in the jar.
    let (out, _) = curl(
        &h,
        "jar",
        &[
            "-H",
            &origin_header,
            "-d",
            &format!("csrf={csrf}"),
            &h.url("/logout"),
        ],
    );
    assert!(out.starts_with("http/1.1 303"), "{out}");
    let old = session_of(&second);
    let stolen = format!("Cookie: __Host-ferry={old}");
    let (_, after) = curl(&h, "none", &["-H", &stolen, &h.url("/")]);
    assert!(after.contains("action=\"/login\""), "{after}");

    // A wrong password counts toward the same ban as every protocol's.
    for _ in 0..5 {
        curl(
            &h,
            "jar",
            &[
                "-H",
                &origin_header,
                "-d",
                "user=alice&password=wrong",
                &h.url("/login"),
            ],
        );
    }
    let (banned, page) = curl(&h, "jar", &[&login[..], &[&h.url("/login")]].concat());
    assert!(banned.starts_with("http/1.1 403"), "{banned}");
    assert!(page.contains("too many failed logins"), "{page}");
}

#[test]
fn the_console_defends_its_session() {
    let (h, admin) = with_console();
    let token = CONSOLE_TOKEN;
    let _server = h.env.serve();
    let base = format!("http://127.0.0.1:{admin}");
    let origin = format!("Origin: {base}");
    let (wrong, _) = curl(
        &h,
        "cj",
        &[
            "-H",
            &origin,
            "-d",
            "token=nope",
            &format!("{base}/ui/login"),
        ],
    );
    assert!(wrong.starts_with("http/1.1 401"), "{wrong}");
    let (from_elsewhere, _) = curl(
        &h,
        "cj",
        &[
            "-H",
            "Origin: http://evil.example",
            "-d",
            &format!("token={token}"),
            &format!("{base}/ui/login"),
        ],
    );
    assert!(
        from_elsewhere.starts_with("http/1.1 403"),
        "{from_elsewhere}"
    );
    let (login, _) = curl(
        &h,
        "cj",
        &[
            "-H",
            &origin,
            "-d",
            &format!("token={token}"),
            &format!("{base}/ui/login"),
        ],
    );
    assert!(login.starts_with("http/1.1 303"), "{login}");
    for flag in [
        "ferry_console=",
        "; path=/ui",
        "; httponly",
        "; samesite=strict",
    ] {
        assert!(login.contains(flag), "no {flag} in {login}");
    }
    let (headers, page) = curl(&h, "cj", &[&format!("{base}/ui/t/acme/verify")]);
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(headers.contains("x-frame-options: deny"), "{headers}");
    let csrf = csrf_of(&page);
    let verify = format!("{base}/ui/t/acme/verify");
    let (no_token, _) = curl(&h, "cj", &["-H", &origin, "-d", "csrf=00", &verify]);
    assert!(no_token.starts_with("http/1.1 403"), "{no_token}");
    let (elsewhere, _) = curl(
        &h,
        "cj",
        &[
            "-H",
            "Origin: http://evil.example",
            "-d",
            &format!("csrf={csrf}"),
            &verify,
        ],
    );
    assert!(elsewhere.starts_with("http/1.1 403"), "{elsewhere}");
    let (done, result) = curl(
        &h,
        "cj",
        &["-H", &origin, "-d", &format!("csrf={csrf}"), &verify],
    );
    assert!(done.starts_with("http/1.1 200"), "{done}");
    assert!(result.contains("Intact"), "{result}");
    // A new password through the partners page (the API's account edit):
    // the next HTTPS login takes it.
    let (_, partners) = curl(&h, "cj", &[&format!("{base}/ui/t/acme/partners")]);
    assert!(partners.contains("<strong>bob</strong>"), "{partners}");
    let (changed, _) = curl(
        &h,
        "cj",
        &[
            "-H",
            &origin,
            "-d",
            &format!("csrf={csrf}&password=bob-new-pass"),
            &format!("{base}/ui/t/acme/partners/bob/accounts/bob/password"),
        ],
    );
    assert!(changed.starts_with("http/1.1 303"), "{changed}");
    let listed = Command::new("curl")
        .args([
            "-sS",
            "-k",
            "--fail",
            "-u",
            "bob:bob-new-pass",
            &h.url("/outbox/"),
        ])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    // A tenant's login sees its own tenant only.
    let (other, _) = curl(&h, "cj", &[&format!("{base}/ui/t/globex/messages")]);
    assert!(other.starts_with("http/1.1 404"), "{other}");
    // Without the cookie: the login page.
    let (anonymous, _) = curl(&h, "none", &[&format!("{base}/ui/t/acme/messages")]);
    assert!(anonymous.starts_with("http/1.1 303"), "{anonymous}");
}
