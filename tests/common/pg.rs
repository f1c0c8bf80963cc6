//! A fresh PostgreSQL database per test, in the server named by `PLENUM_TEST_PG_URL`
//! (scripts/pg-test.sh starts one), read and dropped with `psql`.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// One test's database, dropped (with its connections) with this value.
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    /// The URL `[database] url` gets.
    pub url: String,
}

/// Rows of a query, each a list of columns as text (NULL as `NULL`).
pub type Rows = Vec<Vec<String>>;

impl PgDatabase {
    /// A new, empty UTF-8 database. Without `PLENUM_TEST_PG_URL`: `None` and a loud
    /// "SKIPPED", unless `PLENUM_TEST_PG_REQUIRED` or `CI` is set — then the test fails.
    pub fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("PLENUM_TEST_PG_URL") else {
            assert!(
                std::env::var_os("PLENUM_TEST_PG_REQUIRED").is_none()
                    && std::env::var_os("CI").is_none(),
                "PLENUM_TEST_PG_URL is not set but PostgreSQL tests are required \
                 (scripts/test.sh starts a server: scripts/pg-test.sh)"
            );
            eprintln!("SKIPPED: PLENUM_TEST_PG_URL is not set (scripts/pg-test.sh)");
            return None;
        };
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "plenum_it_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        psql(
            &admin_url,
            &format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'"),
        );
        let url = with_dbname(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// Run `sql` in this database; its rows.
    pub fn query(&self, sql: &str) -> Rows {
        psql(&self.url, sql)
    }

    /// Every table of the database with its columns and rows, as text.
    pub fn dump(&self) -> Vec<(String, Vec<String>, Rows)> {
        let mut tables: Vec<String> = self
            .query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        tables.sort();
        tables
            .into_iter()
            .map(|t| {
                let cols = self
                    .query(&format!(
                        "SELECT column_name FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = '{t}'
                         ORDER BY ordinal_position"
                    ))
                    .into_iter()
                    .map(|r| r[0].clone())
                    .collect();
                let rows = self.query(&format!("SELECT * FROM \"{t}\""));
                (t, cols, rows)
            })
            .collect()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// `psql` on `url` running `sql`: rows NUL-separated and fields by U+0001, so any text
/// survives.
fn psql(url: &str, sql: &str) -> Rows {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-A",
            "-t",
            "-0",
            "-F",
            "\u{1}",
        ])
        .args(["-P", "null=NULL", "-d", url, "-c", sql])
        .output()
        .expect("psql (Debian's postgresql-client)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split('\0')
        .map(|r| r.trim_matches('\n'))
        .filter(|r| !r.is_empty())
        .map(|r| r.split('\u{1}').map(str::to_owned).collect())
        .collect()
}

/// `url` with its database name replaced: a URI's path, or a key-value string's `dbname`.
fn with_dbname(url: &str, name: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return format!("{url} dbname={name}");
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}
