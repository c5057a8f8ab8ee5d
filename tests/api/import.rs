//! Bulk import and export (SPEC §7): CSV files as Excel writes them, each row uploaded, ignored
//! or rejected with its reason; the whole import refused (nothing written) for a file over the
//! limit or a seat limit it would pass; a dry run that writes nothing; an export that imports
//! again with every row ignored, its formula-like cells written as text; concurrent imports of
//! one file creating each account once.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::{
    database::count,
    helpers::{Reply, TestApp},
};

const IMPORT: &str = "/api/v1/users/import";

/// Excel's "CSV UTF-8": a byte-order mark, CRLF, quotes around cells with commas or quotes.
fn excel(rows: &[&str]) -> Vec<u8> {
    let mut text = String::from("\u{feff}");
    for row in rows {
        text.push_str(row);
        text.push_str("\r\n");
    }
    text.into_bytes()
}

async fn import(app: &TestApp, token: &str, query: &str, file: Vec<u8>) -> Reply {
    app.send_bytes(&format!("{IMPORT}{query}"), token, "text/csv", file)
        .await
}

/// `(line, status, field or code…)` of each row of an import's answer.
fn outcomes(reply: &Reply) -> Vec<(u64, String, String)> {
    reply.body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows in {}", reply.body))
        .iter()
        .map(|r| {
            let why = match r["status"].as_str() {
                Some("ignored") => format!(
                    "{}:{}",
                    r["field"].as_str().unwrap_or_default(),
                    r["code"].as_str().unwrap_or_default()
                ),
                Some("rejected") => r["errors"]
                    .as_array()
                    .expect("errors")
                    .iter()
                    .map(|e| {
                        format!(
                            "{}:{}",
                            e["field"].as_str().unwrap_or_default(),
                            e["code"].as_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                _ => r["username"].as_str().unwrap_or_default().to_owned(),
            };
            (
                r["line"].as_u64().unwrap_or(0),
                r["status"].as_str().unwrap_or_default().to_owned(),
                why,
            )
        })
        .collect()
}

fn counts(reply: &Reply) -> (u64, u64, u64) {
    let n = |k: &str| {
        reply.body[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {}", reply.body))
    };
    (n("uploaded"), n("ignored"), n("rejected"))
}

fn users(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) AS n FROM users")
}

fn created_events(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT count(*) AS n FROM audit_events WHERE action = 'user.created'",
    )
}

fn mixed_file() -> Vec<u8> {
    excel(&[
        "First Name,Last Name,Email,Portal Role,Active,Username,Notes",
        r#""Lima, Ana","O""Neil",ana@example.org,User,TRUE,,"a note, with a comma""#,
        "Bo,Berg,DAN@example.org,User,yes,,",
        "Cy,Diaz,not-an-email,User,TRUE,,",
        "Dee,Eve,dee@example.org,Administrator,no,dee,",
        "Eli,Fox,eli@example.org,Wizard,1,,",
        "Fay,Gil,ANA@Example.org,User,0,,",
        "Gus,Hal,gus@example.org,user,maybe,,",
        ",,,,,,",
        "Hoa,Ike,hoa@example.org,,,DAN,",
    ])
}

both! {
    async fn a_file_as_excel_writes_it_imports_each_row_with_its_reason(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.post("/api/v1/users", &admin, json!({"username": "dan", "email": "dan@example.org", "first_name": "Dan", "last_name": "Old"})).await.ok(201);
        let (before, events) = (users(app), created_events(app));
        let expected = vec![
            (2, "uploaded".to_owned(), "ana@example.org".to_owned()),
            (3, "ignored".into(), "email:email_taken".into()),
            (4, "rejected".into(), "email:invalid_email".into()),
            (5, "uploaded".into(), "dee".into()),
            (6, "rejected".into(), "role:unknown_role".into()),
            (7, "ignored".into(), "email:duplicate_in_file".into()),
            (8, "rejected".into(), "active:invalid_boolean".into()),
            (10, "ignored".into(), "username:username_taken".into()),
        ];

        // A dry run answers the same and writes nothing.
        let dry = import(app, &admin, "?dry_run=true", mixed_file()).await;
        dry.ok(200);
        assert_eq!((counts(&dry), dry.body["dry_run"].as_bool()), ((2, 3, 3), Some(true)), "{}", dry.body);
        assert_eq!(outcomes(&dry), expected);
        assert!(dry.body["rows"][0]["id"].is_null(), "no id in a dry run: {}", dry.body);
        assert_eq!((users(app), created_events(app)), (before, events));

        let done = import(app, &admin, "", mixed_file()).await;
        done.ok(200);
        assert_eq!(counts(&done), (2, 3, 3), "{}", done.body);
        assert_eq!(outcomes(&done), expected);
        assert_eq!(done.body["ignored_columns"], json!(["Notes"]));
        let problem = &done.body["rows"][2]["errors"][0];
        assert_eq!(problem["line"], 4);
        assert!(problem["message"].as_str().is_some_and(|m| !m.is_empty()), "{problem}");
        assert_eq!(users(app), before + 2);

        // The accounts as the file described them: quoted commas and quotes kept, roles mapped,
        // invited (no password), made by the import.
        let ana = app.get(&format!("/api/v1/users/{}", done.body["rows"][0]["id"].as_str().expect("id")), &admin).await;
        ana.ok(200);
        assert_eq!((ana.body["first_name"].as_str(), ana.body["last_name"].as_str(), ana.body["username"].as_str(), ana.body["status"].as_str(), ana.body["origin"].as_str()),
                   (Some("Lima, Ana"), Some("O\"Neil"), Some("ana@example.org"), Some("invited"), Some("import")));
        assert_eq!(ana.body["roles"], json!(["user"]));
        let dee = app.get(&format!("/api/v1/users/{}", done.body["rows"][3]["id"].as_str().expect("id")), &admin).await;
        assert_eq!((dee.body["roles"].clone(), dee.body["active"].clone()), (json!(["admin"]), json!(false)));

        // Each account audited on its own, and the import as a whole once.
        assert_eq!(created_events(app), events + 2);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'users.imported'"), 1);

        // Again: nothing new.
        let again = import(app, &admin, "", mixed_file()).await;
        assert_eq!(counts(&again), (0, 5, 3), "{}", again.body);
        assert_eq!(users(app), before + 2);
    }

    async fn a_file_over_the_limit_or_of_another_kind_writes_nothing(app: TestApp) {
        let app = TestApp::spawn_with(app.db, |c| c.import_max_bytes = 2_000).await;
        let (admin, _) = app.admin().await;
        let before = users(&app);
        let rows: Vec<String> = (0..100).map(|i| format!("Ann,Lee,ann{i}@example.org")).collect();
        let mut lines = vec!["first_name,last_name,email"];
        lines.extend(rows.iter().map(String::as_str));
        let big = excel(&lines);
        assert!(big.len() > 2_000);
        let refused = import(&app, &admin, "", big.clone()).await;
        refused.problem(413, "payload_too_large");
        assert!(refused.body["detail"].as_str().is_some_and(|d| d.contains("2000")), "{}", refused.body);
        let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(big).file_name("people.csv"));
        app.send_form(IMPORT, &admin, form).await.problem(413, "payload_too_large");
        assert_eq!(users(&app), before);

        app.send_bytes(IMPORT, &admin, "application/json", "{}").await.problem(415, "unsupported_media_type");
        let no_file = reqwest::multipart::Form::new().text("note", "none");
        app.send_form(IMPORT, &admin, no_file).await.problem(415, "unsupported_media_type");
        // The whole file refused for its header, naming what is missing.
        let headless = import(&app, &admin, "", excel(&["Name,Mail", "Ann,ann@example.org"])).await;
        headless.problem(422, "validation_failed");
        assert_eq!(headless.body["errors"][0]["field"], "file");
        assert_eq!(headless.body["errors"][0]["code"], "missing_columns");
        import(&app, &admin, "", Vec::new()).await.problem(422, "validation_failed");
        import(&app, &admin, "?instances=nope", excel(&["first_name,last_name,email"])).await.problem(400, "invalid_query");
        assert_eq!(users(&app), before);

        // A form as a browser's file input sends it imports.
        let small = excel(&["first_name,last_name,email", "Ann,Lee,ann@example.org"]);
        let form = reqwest::multipart::Form::new()
            .text("note", "before the file")
            .part("file", reqwest::multipart::Part::bytes(small).file_name("people.csv").mime_str("text/csv").expect("mime"));
        let imported = app.send_form(IMPORT, &admin, form).await;
        imported.ok(200);
        assert_eq!(counts(&imported), (1, 0, 0));
    }

    async fn a_seat_limit_the_batch_would_pass_refuses_all_of_it(app: TestApp) {
        let (admin, _) = app.admin().await;
        // The admin holds one of three.
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 3})).await.ok(200);
        let (before, events) = (users(app), created_events(app));
        let file = excel(&[
            "first_name,last_name,email,active",
            "A,One,a1@example.org,true",
            "B,Two,b2@example.org,true",
            "C,Three,c3@example.org,true",
            "D,Four,d4@example.org,false",
        ]);
        for query in ["", "?dry_run=true"] {
            let refused = import(app, &admin, query, file.clone()).await;
            refused.problem(409, "seat_limit_reached");
            assert_eq!(refused.body["seat"], "active_users", "{}", refused.body);
            assert_eq!((users(app), created_events(app)), (before, events));
        }
        // Inactive accounts take no seat: two active ones fit.
        let fits = excel(&[
            "first_name,last_name,email,active",
            "A,One,a1@example.org,true",
            "B,Two,b2@example.org,1",
            "C,Three,c3@example.org,no",
            "D,Four,d4@example.org,false",
        ]);
        let done = import(app, &admin, "", fits).await;
        done.ok(200);
        assert_eq!(counts(&done), (4, 0, 0));
        assert_eq!(users(app), before + 4);
    }

    async fn an_export_imports_again_with_every_row_ignored_and_formulas_as_text(app: TestApp) {
        let (admin, _) = app.admin().await;
        let link = r#"=HYPERLINK("http://example.com")"#;
        app.post("/api/v1/users", &admin, json!({"username": "eve", "email": "eve@example.org", "first_name": link, "last_name": "-Minus", "location": "@home", "roles": ["user", "user_manager"]})).await.ok(201);
        // More than one chunk of the export (1,000 accounts).
        let mut lines = vec!["first_name,last_name,email,location".to_owned()];
        lines.extend((0..1100).map(|i| format!("Ann,Lee{i},ann{i:04}@example.org,\"Porto, PT\"")));
        let file = excel(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(file.len() < 100 * 1024);
        assert_eq!(counts(&import(app, &admin, "", file).await), (1100, 0, 0));

        let (status, headers, text) = app.get_text("/api/v1/users/export", &admin).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
        assert!(headers.get("content-disposition").and_then(|v| v.to_str().ok()).is_some_and(|d| d.starts_with("attachment; filename=\"roster-users-")));
        assert!(text.starts_with("\u{feff}first_name,last_name,email,role,active,username,locale,location,erp_id\r\n"), "{}", &text[..200]);
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1 + 1102, "header, the admin, eve and 1,100 imported");
        // Every account once.
        let mut emails: Vec<&str> = lines[1..].iter().filter_map(|l| l.split(',').find(|c| c.contains('@'))).collect();
        emails.sort();
        emails.dedup();
        assert_eq!(emails.len(), 1102);
        // The formula is text: quoted, with a leading '.
        let eve = lines.iter().find(|l| l.contains("eve@example.org")).expect("eve's row");
        assert_eq!(*eve, r#""'=HYPERLINK(""http://example.com"")",'-Minus,eve@example.org,user;user_manager,true,eve,en,'@home,"#);
        for line in &lines {
            for cell in line.split(',') {
                assert!(!cell.trim_start_matches('"').starts_with(['=', '+', '-', '@', '\t', '\r']), "a formula cell in {line}");
            }
        }

        // The same file imports again: every row ignored, nothing rejected.
        let again = import(app, &admin, "", text.clone().into_bytes()).await;
        again.ok(200);
        assert_eq!(counts(&again), (0, 1102, 0), "{}", again.body);

        // What the list shows for a search and sort, in its order.
        let (_, _, some) = app.get_text("/api/v1/users/export?q=ann000&sort=-email", &admin).await;
        let emails: Vec<String> = some.trim_start_matches('\u{feff}').split("\r\n").skip(1).filter(|l| !l.is_empty())
            .map(|l| l.split(',').nth(2).expect("email").to_owned()).collect();
        let expected: Vec<String> = (0..10).rev().map(|i| format!("ann{i:04}@example.org")).collect();
        assert_eq!(emails, expected);
        let page = app.get("/api/v1/users?q=ann000&sort=-email", &admin).await;
        let listed: Vec<Value> = page.body["items"].as_array().expect("items").iter().map(|a| a["email"].clone()).collect();
        assert_eq!(listed, expected.iter().map(|e| json!(e)).collect::<Vec<_>>());
        // The list's refusals.
        let (status, _, _) = app.get_text("/api/v1/users/export?sort=shoe_size", &admin).await;
        assert_eq!(status, 400);
        app.user(&admin, "plain", &["user"]).await;
        let user = app.token_for("plain").await;
        let (status, _, _) = app.get_text("/api/v1/users/export", &user).await;
        assert_eq!(status, 403);
        app.send_bytes(IMPORT, &user, "text/csv", "first_name,last_name,email\n").await.problem(403, "forbidden");

        // The template is the export's header; nobody needs to sign in for it.
        let (status, _, template) = app.get_text("/api/v1/users/import/template", "").await;
        assert_eq!((status.as_u16(), template.as_str()), (200, "\u{feff}first_name,last_name,email,role,active,username,locale,location,erp_id\r\n"));
    }

    async fn imported_accounts_are_assigned_and_only_an_admin_imports_admins(app: TestApp) {
        let (admin, _) = app.admin().await;
        let application = app.post("/api/v1/applications", &admin, json!({"name": "Billing"})).await.ok(201).id();
        let main = app.post(&format!("/api/v1/applications/{application}/instances"), &admin, json!({"name": "Main"})).await.ok(201).id();
        let test = app.post(&format!("/api/v1/applications/{application}/instances"), &admin, json!({"name": "Test"})).await.ok(201).id();
        let other = app.post("/api/v1/applications", &admin, json!({"name": "Other"})).await.ok(201).id();
        let stray = app.post(&format!("/api/v1/applications/{other}/instances"), &admin, json!({"name": "Stray"})).await.ok(201).id();
        let file = excel(&[
            "first_name,last_name,email,role",
            "A,One,a1@example.org,",
            "G,Guest,g1@example.org,guest",
            "B,Two,b2@example.org,user",
        ]);
        let query = format!("?application={application}&instances={main},{test}");
        let done = import(app, &admin, &query, file.clone()).await;
        done.ok(200);
        assert_eq!(counts(&done), (2, 0, 1), "{}", done.body);
        assert_eq!(outcomes(&done)[1], (3, "rejected".to_owned(), "role:guest_not_assignable".to_owned()));
        let a1 = done.body["rows"][0]["id"].as_str().expect("id").to_owned();
        let assigned = app.get(&format!("/api/v1/users/{a1}/assignments"), &admin).await;
        assigned.ok(200);
        assert_eq!(assigned.body["items"].as_array().map(Vec::len), Some(2), "{}", assigned.body);
        // The first account an instance gets is its admin.
        assert_eq!(assigned.body["items"][0]["instance_role"], "admin", "{}", assigned.body);
        let listed = app.get(&format!("/api/v1/users?instance={test}"), &admin).await;
        assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(2));
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'assignment.assigned'"), 4);

        let wrong = import(app, &admin, &format!("?application={application}&instances={stray}"), file.clone()).await;
        wrong.problem(422, "validation_failed");
        import(app, &admin, &format!("?application={other}"), file.clone()).await.problem(422, "validation_failed");
        import(app, &admin, &format!("?application={}&instances={main}", uuid::Uuid::now_v7()), file).await.problem(404, "application_not_found");

        // A user manager imports users, not admins.
        app.user(&admin, "manager", &["user_manager"]).await;
        let manager = app.token_for("manager").await;
        let mixed = excel(&["first_name,last_name,email,role", "C,Three,c3@example.org,Administrator", "D,Four,d4@example.org,User"]);
        let reply = import(app, &manager, "", mixed).await;
        reply.ok(200);
        assert_eq!(outcomes(&reply), vec![
            (2, "rejected".to_owned(), "role:admin_role_required".to_owned()),
            (3, "uploaded".to_owned(), "d4@example.org".to_owned()),
        ]);
    }

    async fn concurrent_imports_of_one_file_create_each_account_once(app: TestApp) {
        let (admin, _) = app.admin().await;
        let mut lines = vec!["first_name,last_name,email".to_owned()];
        lines.extend((0..200).map(|i| format!("Ann,Lee,race{i:03}@example.org")));
        let file = excel(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let replies = join_all((0..4).map(|_| import(app, &admin, "", file.clone()))).await;
        let mut uploaded = 0;
        for reply in &replies {
            reply.ok(200);
            let (u, i, r) = counts(reply);
            assert_eq!((u + i, r), (200, 0), "{}", reply.body);
            uploaded += u;
        }
        assert_eq!(uploaded, 200, "each row created by exactly one import");
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE email LIKE 'race%'"), 200);
    }
}
