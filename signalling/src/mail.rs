//! Mail to members (config `[mail]`): invitations and activation links, when a mail server
//! is configured; without one, admins download the same links as CSV (docs/events.md).
//!
//! SMTP through `lettre`: `url` is `smtps://user:pass@host:465` (TLS from the start),
//! `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtp://host:25` (plain, for a
//! relay on the same machine). Sending is blocking (the callers run off the async threads).
//! Nothing here logs an address: a failure is logged by its kind and SMTP code only.

use lettre::message::{Mailbox, Message, SinglePart};
use lettre::{SmtpTransport, Transport};
use serde::{Deserialize, Serialize};
use tracing::warn;

/// Settings (config section `[mail]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The SMTP server as a URL (see the module docs); empty: no mail.
    pub url: String,
    /// The sender, e.g. `Plenum <noreply@partei.example>`.
    pub from: String,
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The configuration is unusable.
    #[error("mail configuration: {0}")]
    Config(String),
    /// The recipient's address is not one.
    #[error("not an e-mail address")]
    Address,
    /// The message could not be built.
    #[error("the message could not be built")]
    Build,
    /// The server refused or could not be reached (kind and SMTP code, no address).
    #[error("delivery failed ({0})")]
    Delivery(String),
}

/// An SMTP client for one configured server.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailer(..)")
    }
}

impl Mailer {
    /// The mailer of `config`; `None` if no server is configured.
    pub fn new(config: &MailConfig) -> Result<Option<Self>, MailError> {
        if config.url.trim().is_empty() {
            return Ok(None);
        }
        let transport = SmtpTransport::from_url(config.url.trim())
            .map_err(|e| MailError::Config(format!("url: {e}")))?
            .build();
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| MailError::Config(format!("from {:?}: {e}", config.from)))?;
        Ok(Some(Self { transport, from }))
    }

    /// The message: plain text, UTF-8, in the transfer encoding lettre finds best (quoted-
    /// printable for German text with long links; every mail program decodes it).
    fn message(&self, to: &str, subject: &str, text: &str) -> Result<Message, MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Address)?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(SinglePart::plain(text.to_owned()))
            .map_err(|_| MailError::Build)
    }

    /// Send a plain-text mail to `to`; blocks until the server answered.
    pub fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), MailError> {
        let message = self.message(to, subject, text)?;
        self.transport.send(&message).map(|_| ()).map_err(|e| {
            let kind = if e.is_permanent() {
                "permanent"
            } else if e.is_transient() {
                "transient"
            } else {
                "connection"
            };
            let code = e.status().map(|c| c.to_string()).unwrap_or_default();
            let reason = format!("{kind} {code}").trim().to_owned();
            warn!("a mail could not be delivered: {reason}");
            MailError::Delivery(reason)
        })
    }
}

/// The invitation to a room for a member: subject and text (German, the party's language).
pub fn invitation(title: &str, name: &str, link: &str, activation: bool) -> (String, String) {
    let how = if activation {
        "Mit diesem Link richten Sie Ihren Zugang ein (einmal verwendbar, 7 Tage gültig):"
    } else {
        "Melden Sie sich hier mit Ihrer Mitgliedsnummer oder E-Mail-Adresse an:"
    };
    (
        format!("Einladung: {title}"),
        format!(
            "Hallo {name},\n\nSie sind eingeladen zu „{title}“. Nach der Anmeldung finden Sie \
             die Versammlung auf Ihrer Startseite.\n\n{how}\n{link}\n\nDiese Nachricht wurde von \
             Plenum verschickt.\n"
        ),
    )
}

/// An activation (or password reset) link for a member: subject and text.
pub fn activation(name: &str, link: &str) -> (String, String) {
    (
        "Ihr Zugang zu Plenum".to_owned(),
        format!(
            "Hallo {name},\n\nmit diesem Link setzen Sie Ihr Passwort für Plenum (einmal \
             verwendbar, 7 Tage gültig; frühere Links werden damit ungültig):\n{link}\n\nWenn Sie \
             das nicht angefordert haben, können Sie diese Nachricht ignorieren.\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_url_means_no_mailer_and_a_bad_sender_is_refused() {
        assert!(Mailer::new(&MailConfig::default()).unwrap().is_none());
        let bad = MailConfig {
            url: "smtp://127.0.0.1:2525".into(),
            from: "not an address".into(),
        };
        assert!(matches!(Mailer::new(&bad), Err(MailError::Config(_))));
        let bad_url = MailConfig {
            url: "gopher://x".into(),
            from: "Plenum <p@example.org>".into(),
        };
        assert!(matches!(Mailer::new(&bad_url), Err(MailError::Config(_))));
    }

    #[test]
    fn messages_are_utf8_plain_text_with_short_lines() {
        let mailer = Mailer::new(&MailConfig {
            url: "smtp://127.0.0.1:2525".into(),
            from: "Plenum <p@example.org>".into(),
        })
        .unwrap()
        .unwrap();
        let (subject, text) = invitation("Parteitag „Süd“", "Jörg", "https://x/", false);
        let raw = String::from_utf8(
            mailer
                .message("joerg@example.org", &subject, &text)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Transfer-Encoding: quoted-printable"),
            "{raw}"
        );
        assert!(raw.contains("Hallo J=C3=B6rg,"), "{raw}");
        assert!(raw.lines().all(|l| l.len() <= 78), "{raw}");
        assert!(matches!(
            mailer.message("not-an-address", "s", "t"),
            Err(MailError::Address)
        ));
    }

    #[test]
    fn invitations_name_the_event_and_carry_the_link() {
        let (subject, text) = invitation(
            "Bundesparteitag",
            "Jörg Nordmann",
            "https://x/activate#token=ab",
            true,
        );
        assert_eq!(subject, "Einladung: Bundesparteitag");
        assert!(text.contains("Hallo Jörg Nordmann"));
        assert!(text.contains("\nhttps://x/activate#token=ab\n"));
        assert!(text.lines().all(|l| l.len() < 998));
    }
}
