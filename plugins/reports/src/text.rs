//! The minutes' words in German and English, and how times read in them.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use plenum_signalling::serde::{Deserialize, Serialize};

/// The language of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde", rename_all = "snake_case")]
pub enum Lang {
    /// German (the default: the party's language).
    #[default]
    De,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// A text of the minutes.
    pub fn t(self, key: &str) -> &'static str {
        let (de, en) = match key {
            "minutes" => ("Protokoll", "Minutes"),
            "kind.congress" => ("Parteitag", "Party congress"),
            "kind.board" => ("Vorstandssitzung", "Board meeting"),
            "kind.open" => ("Offene Versammlung", "Open meeting"),
            "kind.direct" => ("Gespräch", "Conversation"),
            "organiser" => ("Veranstalter", "Organised by"),
            "planned" => ("Geplanter Beginn", "Planned start"),
            "opened" => ("Eröffnet", "Opened"),
            "closed" => ("Geschlossen", "Closed"),
            "not_opened" => ("nicht eröffnet", "not opened"),
            "chair" => ("Versammlungsleitung", "Chair"),
            "attendance" => ("Anwesenheit", "Attendance"),
            "attendance.summary" => ("Teilnehmende", "participants"),
            "col.name" => ("Name", "Name"),
            "col.role" => ("Rolle", "Role"),
            "col.unit" => ("Landesverband", "Landesverband"),
            "col.present" => ("Anwesend", "Present"),
            "agenda" => ("Tagesordnung", "Agenda"),
            "agenda.called" => ("aufgerufen", "called"),
            "agenda.not_called" => ("nicht aufgerufen", "not called"),
            "speeches" => ("Redeliste", "Speakers"),
            "col.time" => ("Zeit", "Time"),
            "col.item" => ("TOP", "Item"),
            "col.kind" => ("Art", "Kind"),
            "col.duration" => ("Dauer", "Duration"),
            "none" => ("keine", "none"),
            "polls" => ("Abstimmungen und Wahlen", "Votes and elections"),
            "poll.secret" => ("geheim", "secret"),
            "poll.named" => ("namentlich", "by roll call"),
            "poll.motion" => ("Antrag", "Motion"),
            "poll.election" => ("Wahl", "Election"),
            "poll.eligible" => ("Stimmberechtigte", "Eligible voters"),
            "poll.present" => ("Anwesend bei Eröffnung", "Present at opening"),
            "poll.voted" => ("Abgegebene Stimmen", "Votes cast"),
            "poll.board_head" => (
                "Prüfkette (letzter Hash des Bulletin-Boards)",
                "Bulletin board head hash",
            ),
            "poll.unpublished" => ("Ergebnis nicht veröffentlicht", "Result not published"),
            "poll.cancelled" => ("abgebrochen", "cancelled"),
            "poll.quorum_missed" => ("Beschlussfähigkeit nicht erreicht", "Quorum not reached"),
            "poll.quorum_met" => ("beschlussfähig", "quorum reached"),
            "poll.accepted" => ("angenommen", "adopted"),
            "poll.rejected" => ("abgelehnt", "rejected"),
            "poll.elected" => ("gewählt", "elected"),
            "poll.tied" => ("Stimmengleichheit", "tie"),
            "poll.nobody" => ("niemand gewählt", "nobody elected"),
            "col.question" => ("Frage", "Question"),
            "col.yes" => ("Ja", "Yes"),
            "col.no" => ("Nein", "No"),
            "col.abstain" => ("Enthaltung", "Abstain"),
            "col.vote" => ("Stimme", "Vote"),
            "col.weight" => ("Gewicht", "Weight"),
            "roll_call" => ("Namentliche Stimmabgabe", "Roll call"),
            "role.admin" => ("Administration", "Administrator"),
            "role.moderator" => ("Moderation", "Moderator"),
            "role.delegate" => ("Delegierte/r", "Delegate"),
            "role.guest_speaker" => ("Gastredner/in", "Guest speaker"),
            "role.observer" => ("Gast", "Observer"),
            "speech.contribution" => ("Redebeitrag", "Contribution"),
            "speech.pro" => ("Fürrede", "For"),
            "speech.contra" => ("Gegenrede", "Against"),
            "speech.question" => ("Frage", "Question"),
            "speech.point_of_order" => ("Geschäftsordnungsantrag", "Point of order"),
            "vote.yes" => ("Ja", "Yes"),
            "vote.no" => ("Nein", "No"),
            "vote.abstain" => ("Enthaltung", "Abstain"),
            "page" => ("Seite", "Page"),
            "of" => ("von", "of"),
            "motion" => ("Antrag", "Motion"),
            "approved" => ("Genehmigt", "Approved"),
            "version" => ("Fassung", "Version"),
            "by" => ("von", "by"),
            "status" => ("Stand", "Status"),
            "draft" => ("Entwurf, nicht genehmigt", "Draft, not approved"),
            "notes" => ("Notizen der Protokollführung", "Minute-taker's notes"),
            "notes.text" => ("Notiz", "Note"),
            "notes.by" => ("Von", "By"),
            "circulation" => ("Umlaufverfahren", "Circulation"),
            "attachments" => ("Anlagen", "Attachments"),
            "attachments.session" => ("Sitzung insgesamt", "Session as a whole"),
            "attachments.uploaded" => ("hochgeladen", "uploaded"),
            "register" => ("Beschlussbuch", "Resolutions register"),
            "reg.number" => ("Nummer", "Number"),
            "reg.date" => ("Datum", "Date"),
            "reg.body" => ("Gremium", "Body"),
            "reg.title" => ("Beschluss", "Resolution"),
            "reg.text" => ("Text", "Text"),
            "reg.result" => ("Ergebnis", "Result"),
            "reg.source" => ("Quelle", "Source"),
            "reg.count" => ("Beschlüsse", "Resolutions"),
            _ => ("?", "?"),
        };
        match self {
            Lang::De => de,
            Lang::En => en,
        }
    }

    /// A quotation: „…“ in German, “…” in English.
    pub fn quote(self, text: &str) -> String {
        match self {
            Lang::De => format!("„{text}“"),
            Lang::En => format!("“{text}”"),
        }
    }
}

/// How times read in a document: in the party's time zone.
#[derive(Debug, Clone)]
pub struct Clock {
    zone: TimeZone,
}

impl Clock {
    /// Times in `zone` (an IANA name such as `Europe/Berlin`); UTC if the name is unknown.
    pub fn new(zone: &str) -> Self {
        Self {
            zone: TimeZone::get(zone).unwrap_or(TimeZone::UTC),
        }
    }

    /// `08.05.2027, 10:00` (unix milliseconds).
    pub fn date_time(&self, ms: u64) -> String {
        self.format(ms, "%d.%m.%Y, %H:%M")
    }

    /// `08.05.2027`.
    pub fn date(&self, ms: u64) -> String {
        self.format(ms, "%d.%m.%Y")
    }

    /// The calendar year (for register numbers), `1970` if out of range.
    pub fn year(&self, ms: u64) -> i32 {
        self.zoned(ms).map_or(1970, |z| i32::from(z.year()))
    }

    /// `10:00:05`.
    pub fn time(&self, ms: u64) -> String {
        self.format(ms, "%H:%M:%S")
    }

    fn zoned(&self, ms: u64) -> Option<jiff::Zoned> {
        let t = Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()?;
        Some(t.to_zoned(self.zone.clone()))
    }

    fn format(&self, ms: u64, pattern: &str) -> String {
        self.zoned(ms)
            .map(|z| z.strftime(pattern).to_string())
            .unwrap_or_default()
    }
}

/// `3:05` (minutes:seconds) of a duration in milliseconds.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_the_partys_zone_and_quotes_in_the_language() {
        let berlin = Clock::new("Europe/Berlin");
        // 2027-05-08T08:00:00Z is 10:00 in summer time.
        assert_eq!(berlin.date_time(1_809_763_200_000), "08.05.2027, 10:00");
        // 2027-01-08T08:00:00Z is 09:00 in winter.
        assert_eq!(berlin.time(1_799_395_200_000), "09:00:00");
        assert_eq!(Clock::new("Nowhere/Else").time(0), "00:00:00");
        // New Year's Eve 23:30 UTC is already next year in Berlin.
        assert_eq!(berlin.year(1_830_295_800_000), 2028);
        assert_eq!(Clock::new("UTC").year(1_830_295_800_000), 2027);
        assert_eq!(berlin.date(1_809_763_200_000), "08.05.2027");
        assert_eq!(duration(185_000), "3:05");
        assert_eq!(Lang::De.quote("Antrag"), "„Antrag“");
        assert_eq!(Lang::En.quote("Motion"), "“Motion”");
    }
}
