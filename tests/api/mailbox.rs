//! A real SMTP server on loopback for the email tests: `tests/smtp/sink.py` (Python's aiosmtpd),
//! which writes each message it accepts, decoded, as a JSON file. It can be stopped and started
//! again on the same port and directory, to test delivery while the server is away.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use uuid::Uuid;

pub struct Mailbox {
    pub port: u16,
    dir: PathBuf,
    server: Option<Child>,
}

/// One message as received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mailbox {
    /// Starts the server on a free port.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("roster-mail-{}", Uuid::now_v7()));
        let mut mailbox = Self {
            port,
            dir,
            server: None,
        };
        mailbox.resume();
        mailbox
    }

    /// `smtp://` URL for `ROSTER_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server: connections are refused until [`Mailbox::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory.
    pub fn resume(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp/sink.py");
        // The port was just freed: a few tries while the kernel lets go of it.
        for _ in 0..50 {
            let mut child = Command::new("python3")
                .arg(script)
                .arg(self.port.to_string())
                .arg(&self.dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python3 runs tests/smtp/sink.py (pip install aiosmtpd)");
            let mut line = String::new();
            let stdout = child.stdout.take().expect("stdout");
            let _ = BufReader::new(stdout).read_line(&mut line);
            if line.trim() == "ready" {
                self.server = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the SMTP sink did not start on port {}", self.port);
    }

    /// Every message received so far, in the order received.
    pub fn received(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("a received message");
                let v: Value = serde_json::from_str(&text).expect("JSON");
                Mail {
                    to: v["to"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    subject: v["subject"].as_str().unwrap_or_default().to_owned(),
                    text: v["text"].as_str().unwrap_or_default().to_owned(),
                    html: v["html"].as_str().unwrap_or_default().to_owned(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (at most `within`); answers all received.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let end = std::time::Instant::now() + within;
        loop {
            let mail = self.received();
            if mail.len() >= n || std::time::Instant::now() > end {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Mail {
    /// The token of the first link in the plain text (`…#token=rot_…`).
    pub fn token(&self) -> Option<String> {
        let start = self.text.find("#token=")? + "#token=".len();
        let rest = &self.text[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}
