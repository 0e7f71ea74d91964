//! The web pages in a real browser: Debian's headless Chromium driven
//! through `chromedriver` (WebDriver, with fantoccini), both started here
//! on free ports. Each page visited is saved as a screenshot in
//! `target/tmp/screenshots/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::https::HttpsEnv;
use crate::util::{PATIENCE, bytes, free_port, sha256_hex};
use std::process::Command as Run;

/// `chromedriver` on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is needed (Debian: chromium-driver)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < PATIENCE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }

    /// A headless Chromium that accepts the self-signed certificate and
    /// saves downloads into `downloads`.
    async fn browser(&self, downloads: &Path) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("acceptInsecureCerts".into(), true.into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            }),
        );
        ClientBuilder::rustls()
            .expect("rustls for WebDriver")
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Where the screenshots go: under Cargo's temp dir for integration tests.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits, reloading, until the page's source contains `needle`.
async fn page_shows(c: &Client, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let source = c.source().await.unwrap();
        if source.contains(needle) {
            return source;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the page never showed {needle:?}:\n{source}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.refresh().await.unwrap();
    }
}

/// Types `text` into the element `css` finds.
async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// Clicks the element `css` finds.
async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn log_in(c: &Client, url: &str, user: &str) {
    c.goto(url).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#user"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    type_into(c, "#password", "alice-pass").await;
    click(c, "form[action='/login'] button").await;
    c.wait().for_element(Locator::Css("#upload")).await.unwrap();
}

async fn log_out(c: &Client) {
    click(c, "form[action='/logout'] button").await;
    c.wait().for_element(Locator::Css("#user")).await.unwrap();
}

/// alice logs in, sends a file through the form (with the progress
/// script), sees it delivered to bob; bob logs in, downloads it with the
/// browser and gets the same bytes; alice then sees that bob has it.
#[test]
fn a_partner_sends_and_another_downloads_in_a_browser() {
    let h = HttpsEnv::new();
    let _server = h.env.serve();
    let data = bytes(21, 700_000);
    let report = h.env.path().join("report.bin");
    std::fs::write(&report, &data).unwrap();
    let downloads = h.env.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let driver = Driver::start();
    runtime().block_on(async {
        let c = driver.browser(&downloads).await;
        c.goto(&h.url("/")).await.unwrap();
        c.wait().for_element(Locator::Css("#user")).await.unwrap();
        screenshot(&c, "partner-login").await;

        // A wrong password: the form again, with the refusal.
        type_into(&c, "#user", "alice").await;
        type_into(&c, "#password", "wrong").await;
        click(&c, "form[action='/login'] button").await;
        page_shows(&c, "Login incorrect.").await;

        log_in(&c, &h.url("/"), "alice").await;
        type_into(&c, "#files", report.to_str().unwrap()).await;
        click(&c, "#upload button").await;
        let started = Instant::now();
        while !c
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/?done=sent")
        {
            assert!(started.elapsed() < PATIENCE, "the upload never finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = page_shows(&c, "bob: not downloaded yet").await;
        assert!(page.contains(&sha256_hex(&data)), "{page}");
        screenshot(&c, "partner-mailbox-sender").await;
        log_out(&c).await;

        log_in(&c, &h.url("/"), "bob").await;
        screenshot(&c, "partner-mailbox-receiver").await;
        click(&c, "a[href='/outbox/report.bin']").await;
        let saved = downloads.join("report.bin");
        let started = Instant::now();
        while std::fs::read(&saved).map(|b| b.len()).unwrap_or(0) != data.len() {
            assert!(started.elapsed() < PATIENCE, "the download never finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            sha256_hex(&std::fs::read(&saved).unwrap()),
            sha256_hex(&data)
        );
        log_out(&c).await;

        log_in(&c, &h.url("/"), "alice").await;
        page_shows(&c, "bob: downloaded").await;
        c.close().await.unwrap();
    });
    assert_eq!(
        h.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'downloaded'"),
        1
    );
}

/// The operators' console in a browser, logged in with a tenant's token:
/// the message found by a search, its whole trail, the sessions, the dead
/// letters, the activity chart and the journal verified.
#[test]
fn the_console_finds_a_message_and_shows_its_trail() {
    let (h, admin) = crate::web::with_console();
    let acme_token = crate::web::CONSOLE_TOKEN;
    let _server = h.env.serve();
    let data = bytes(22, 50_000);
    std::fs::write(h.env.path().join("weekly-report.csv"), &data).unwrap();
    let put = Run::new("curl")
        .args([
            "-sS",
            "-k",
            "--fail",
            "-u",
            "alice:alice-pass",
            "-T",
            "weekly-report.csv",
        ])
        .arg(h.url("/inbox/weekly-report.csv"))
        .current_dir(h.env.path())
        .output()
        .unwrap();
    assert!(put.status.success(), "{put:?}");
    crate::util::eventually("delivery to bob", || {
        h.env
            .names("bob", "/outbox")
            .contains(&"weekly-report.csv".to_owned())
    });
    let got = Run::new("curl")
        .args(["-sS", "-k", "--fail", "-u", "bob:alice-pass"])
        .arg(h.url("/outbox/weekly-report.csv"))
        .output()
        .unwrap();
    assert_eq!(got.stdout, data);
    let console = format!("http://127.0.0.1:{admin}/ui/");
    let downloads = h.env.path().join("downloads");
    let driver = Driver::start();
    runtime().block_on(async {
        let c = driver.browser(&downloads).await;
        c.goto(&console).await.unwrap();
        c.wait()
            .for_element(Locator::Css("#token"))
            .await
            .unwrap()
            .send_keys(acme_token)
            .await
            .unwrap();
        screenshot(&c, "console-login").await;
        click(&c, "form[action='/ui/login'] button").await;
        c.wait()
            .for_element(Locator::Css("form.search"))
            .await
            .unwrap();
        type_into(&c, "input[name=name]", "weekly").await;
        c.find(Locator::Css("select[name=direction]"))
            .await
            .unwrap()
            .select_by_value("in")
            .await
            .unwrap();
        click(&c, "form.search button").await;
        let list = page_shows(&c, "weekly-report.csv").await;
        assert!(list.contains("<td>alice</td>"), "{list}");
        screenshot(&c, "console-messages").await;
        click(&c, "#messages tbody tr a").await;
        let trail = page_shows(&c, "acknowledged").await;
        for kind in ["received", "verdict", "delivered", "downloaded"] {
            assert!(
                trail.contains(&format!("<td>{kind}</td>")),
                "no {kind}: {trail}"
            );
        }
        assert!(trail.contains(&sha256_hex(&data)), "{trail}");
        screenshot(&c, "console-message").await;

        c.goto(&format!("{console}t/acme/sessions")).await.unwrap();
        c.wait().for_element(Locator::Css("h1")).await.unwrap();
        screenshot(&c, "console-sessions").await;
        c.goto(&format!("{console}t/acme/dead-letters"))
            .await
            .unwrap();
        page_shows(&c, "Dead letters of acme").await;
        c.goto(&format!("{console}t/acme/activity")).await.unwrap();
        let activity = page_shows(&c, "svg").await;
        assert!(activity.contains("received"), "{activity}");
        screenshot(&c, "console-activity").await;
        c.goto(&format!("{console}t/acme/verify")).await.unwrap();
        c.wait()
            .for_element(Locator::Css("main form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let verdict = c
            .wait()
            .for_element(Locator::Css("#verdict"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(verdict.starts_with("Intact"), "{verdict}");
        screenshot(&c, "console-verify").await;

        // Another tenant's pages do not exist for this token.
        c.goto(&format!("{console}t/globex/messages"))
            .await
            .unwrap();
        let other = c.source().await.unwrap();
        assert!(other.contains("no tenant"), "{other}");
        c.close().await.unwrap();
    });
}
