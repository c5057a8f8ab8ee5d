//! Limits a slow or careless client meets: a client that sends its request's headers too slowly
//! (a "slow loris") is answered 408 and disconnected after `ROSTER_REQUEST_HEADER_TIMEOUT_SECS`,
//! holding no connection longer.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::TestApp;

both! {
    async fn a_client_sending_its_headers_too_slowly_is_cut_off(app: TestApp) {
        let app = &TestApp::spawn_with(app.db, |c| c.request_header_timeout = Duration::from_secs(1)).await;
        let address = app.base.trim_start_matches("http://").to_owned();
        let mut socket = tokio::net::TcpStream::connect(&address).await.expect("connected");
        let started = Instant::now();
        // The request line and one header, then nothing: the blank line never comes.
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: roster\r\n").await.expect("written");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
        let elapsed = started.elapsed();
        assert!(read.is_ok(), "the connection was not closed within 10 s");
        assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4), "cut after {elapsed:?}");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        // A client that sends its headers in time is served as always.
        let mut socket = tokio::net::TcpStream::connect(&address).await.expect("connected");
        socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: roster\r\nConnection: close\r\n\r\n").await.expect("written");
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).await.expect("read");
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    }
}
