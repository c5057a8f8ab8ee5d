//! Limits a slow or careless client meets: a client that sends its request's headers too slowly
//! (a "slow loris") is answered 408 and disconnected after `ROSTER_REQUEST_HEADER_TIMEOUT_SECS`,
//! holding no connection longer, and one whose body does not arrive within
//! `ROSTER_REQUEST_BODY_TIMEOUT_SECS` is answered 408 `request_timeout`; a JSON body over `ROSTER_MAX_BODY_BYTES` answers 413 (the import
//! has its own, larger limit); headers over `ROSTER_MAX_HEADER_BYTES` answer 431 problem+json;
//! what actix-http refuses before Roster sees it (a head over 128 KiB, over 96 headers, a bad
//! `Content-Length`) answers a plain 431 or 400.

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

/// Sends `head` (and nothing after it) on a fresh connection; the answer, as text.
async fn raw(app: &TestApp, head: &[u8]) -> String {
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connected");
    // The server may answer and close before it read all of a head it refused.
    let _ = socket.write_all(head).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

both! {
    async fn the_largest_json_body_is_configurable_and_the_import_keeps_its_own(app: TestApp) {
        let app = &TestApp::spawn_with(app.db, |c| c.max_body_bytes = 2048).await;
        let (admin, _) = app.admin().await;
        let body = |n: usize| serde_json::json!({"email": "wide@example.org", "first_name": "A", "last_name": "x".repeat(n)});
        app.post("/api/v1/users", &admin, body(2100)).await.problem(413, "payload_too_large");
        app.post("/api/v1/users", &admin, body(50)).await.ok(201);
        // The import takes its own, larger limit.
        let mut csv = String::from("first_name,last_name,email\n");
        for i in 0..100 {
            csv.push_str(&format!("Ann,Lee,ann{i}@example.org\n"));
        }
        assert!(csv.len() > 2048);
        let imported = app.send_bytes("/api/v1/users/import", &admin, "text/csv", csv).await;
        imported.ok(200);
    }

    async fn headers_over_the_configured_limit_answer_a_problem_and_write_nothing(app: TestApp) {
        let app = &TestApp::spawn_with(app.db, |c| c.max_header_bytes = 4096).await;
        let (admin, _) = app.admin().await;
        let filler = "f".repeat(4000);
        let body = serde_json::json!({"email": "big@example.org", "first_name": "Big", "last_name": "Head"});
        let refused = app.call(reqwest::Method::POST, "/api/v1/users", Some(&admin), Some(body.clone()), &[("x-filler", &filler)]).await;
        refused.problem(431, "headers_too_large");
        assert!(refused.body["detail"].as_str().is_some_and(|d| d.contains("4096")), "{}", refused.body);
        assert_eq!(refused.headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
        assert!(refused.headers.contains_key("x-request-id"));
        // A long query string counts too.
        let long_query = format!("/api/v1/users?q={}", "a".repeat(4100));
        app.get(&long_query, &admin).await.problem(431, "headers_too_large");
        let list = app.get("/api/v1/users?q=big", &admin).await;
        assert_eq!(list.body["items"], serde_json::json!([]), "nothing was written");
        app.call(reqwest::Method::POST, "/api/v1/users", Some(&admin), Some(body), &[("x-filler", "short")]).await.ok(201);
    }

    async fn a_body_sent_too_slowly_is_answered_408(app: TestApp) {
        let app = &TestApp::spawn_with(app.db, |c| c.request_body_timeout = Duration::from_secs(1)).await;
        let (admin, _) = app.admin().await;
        // Half a body, then nothing: a JSON route, a keyed POST (read by the idempotency layer)
        // and the import's CSV.
        let heads = [
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: roster\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"login\": \"admin\",".to_owned(),
            format!("POST /api/v1/groups HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {admin}\r\nIdempotency-Key: slow-1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"name\":"),
            format!("POST /api/v1/users/import HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {admin}\r\nContent-Type: text/csv\r\nContent-Length: 500\r\n\r\nfirst_name,last_name,email\r\n"),
        ];
        for head in heads {
            let started = Instant::now();
            let answer = raw(app, head.as_bytes()).await;
            let elapsed = started.elapsed();
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
            assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5), "answered after {elapsed:?}");
        }
        let groups = app.get("/api/v1/groups", &admin).await;
        assert_eq!(groups.body["items"], serde_json::json!([]), "nothing was written");
        // A body sent in time, in pieces, is read as always.
        let address = app.base.trim_start_matches("http://").to_owned();
        let mut socket = tokio::net::TcpStream::connect(&address).await.expect("connected");
        let body = "{\"name\": \"Finance\"}";
        let head = format!("POST /api/v1/groups HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
        socket.write_all(head.as_bytes()).await.expect("written");
        for piece in body.as_bytes().chunks(5) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            socket.write_all(piece).await.expect("written");
        }
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).await.expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    }

    async fn an_oversized_request_head_is_refused_before_any_route(app: TestApp) {
        // Over 128 KiB of head, and over 96 headers: refused by the HTTP layer (actix-http) with 431.
        let long = format!("GET /healthz HTTP/1.1\r\nHost: roster\r\nX-Filler: {}\r\n\r\n", "a".repeat(200 * 1024));
        let answer = raw(app, long.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: roster\r\n");
        for i in 0..100 {
            many.push_str(&format!("X-H{i}: v\r\n"));
        }
        many.push_str("\r\n");
        let answer = raw(app, many.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        // A bad Content-Length is a 400 of the HTTP layer.
        let answer = raw(app, b"POST /api/v1/auth/login HTTP/1.1\r\nHost: roster\r\nContent-Length: nope\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
}
