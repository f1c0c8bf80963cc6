// Every string a person sees goes through t(). German and English; the language comes from
// localStorage (a person's explicit choice) or navigator.language, and <html lang> follows it.

const STORAGE_KEY = 'plenum.lang';
export const LANGUAGES = ['de', 'en'];

const de = {
  'app.name': 'Plenum',
  'lang.label': 'Sprache',
  'lang.de': 'Deutsch',
  'lang.en': 'Englisch',

  'landing.title': 'Willkommen bei Plenum',
  'landing.text': 'Bitte öffnen Sie Ihren persönlichen Einladungslink. Sie finden ihn in Ihrer Einladung zum Parteitag.',
  'landing.privacy': 'Plenum lädt nichts von Dritten und setzt keine Tracker ein.',
  'invite.missing': 'Dieser Link enthält keine Einladung. Bitte öffnen Sie den vollständigen Link aus Ihrer Einladung.',
  'invite.malformed': 'Dieser Einladungslink ist beschädigt. Bitte kopieren Sie ihn vollständig aus Ihrer Einladung.',
  'invite.expired': 'Dieser Einladungslink scheint abgelaufen zu sein. Falls der Beitritt scheitert, bitten Sie um einen neuen Link.',

  'preview.greeting': 'Hallo, {name}!',
  'preview.room': 'Raum: {room}',
  'preview.role': 'Ihre Rolle: {role}',
  'preview.camera': 'Kamera',
  'preview.microphone': 'Mikrofon',
  'preview.noDevice': 'Nicht verfügbar',
  'preview.deviceFallback': 'Gerät {n}',
  'preview.videoLabel': 'Vorschau Ihrer Kamera',
  'preview.starting': 'Kamera und Mikrofon werden gestartet …',
  'preview.join': 'Beitreten',
  'preview.joining': 'Verbinde …',
  'preview.observer': 'Als Gast sehen und hören Sie zu; Sie senden weder Bild noch Ton.',

  'media.denied': 'Der Browser erlaubt keinen Zugriff auf Kamera und Mikrofon. Sie nehmen ohne Bild und Ton teil.',
  'media.notFound': 'Keine Kamera und kein Mikrofon gefunden. Sie nehmen ohne Bild und Ton teil.',
  'media.busy': 'Kamera oder Mikrofon wird gerade von einem anderen Programm benutzt. Sie nehmen ohne Bild und Ton teil.',
  'media.failed': 'Kamera und Mikrofon konnten nicht gestartet werden. Sie nehmen ohne Bild und Ton teil.',
  'media.unsupported': 'Dieser Browser gibt hier keinen Zugriff auf Kamera und Mikrofon. Sie nehmen ohne Bild und Ton teil.',
  'media.noCamera': 'Keine Kamera verfügbar – Sie nehmen nur mit Mikrofon teil.',
  'media.noMicrophone': 'Kein Mikrofon verfügbar – Sie nehmen nur mit Kamera teil.',
  'media.receiveOnly': 'Sie senden weder Bild noch Ton.',
  'media.connectionFailed': 'Die Audio- und Videoverbindung ist fehlgeschlagen. Bitte verlassen Sie den Raum und treten Sie erneut bei.',

  'role.admin': 'Administration',
  'role.moderator': 'Moderation',
  'role.delegate': 'Delegierte/r',
  'role.guest_speaker': 'Gastredner/in',
  'role.observer': 'Gast',
  'role.unknown': 'Teilnahme',

  'stage.title': 'Bühne',
  'stage.empty': 'Gerade ist niemand auf der Bühne.',
  'stage.self': 'Sie sind auf der Bühne.',
  'stage.selfCaption': 'Sie sind auf der Bühne',
  'stage.onStage': 'Auf der Bühne: {name}',
  'stage.pinned': 'von der Moderation gewählt',
  'stage.floor': 'hat das Wort',
  'stage.automatic': 'automatisch: wer gerade spricht',
  'stage.setAutomatic': 'Bühne: automatisch',
  'stage.videoLabel': 'Bühne',
  'tiles.title': 'Weitere Teilnehmende',
  'tiles.videoLabel': 'Video von {name}',

  'participants.title': 'Teilnehmende ({n})',
  'participants.you': '(Sie)',
  'participants.putOnStageLabel': '{name} auf die Bühne holen',
  'participants.releaseLabel': 'Bühne wieder automatisch wählen lassen',
  'status.micOn': 'Mikrofon an',
  'status.muted': 'stummgeschaltet',
  'status.micNone': 'kein Mikrofon',
  'status.camOn': 'Kamera an',
  'status.camOff': 'Kamera aus',
  'status.onStage': 'Bühne',
  'status.floor': 'hat das Wort',
  'status.heard': 'zu hören',
  'status.forceMuted': 'von der Moderation gesperrt',
  'participant.unknown': 'Unbekannt',

  'queue.title': 'Redeliste',
  'queue.open': 'offen',
  'queue.closed': 'geschlossen',
  'queue.limit': 'Redezeit {time}',
  'queue.noLimit': 'Redezeit unbegrenzt',
  'queue.empty': 'Die Redeliste ist leer.',
  'queue.place': 'Platz {n} ({kind})',
  'queue.ownPlaces': 'Sie stehen auf der Redeliste: {places}.',
  'queue.closedHint': 'Die Redeliste ist geschlossen; GO-Anträge sind weiter möglich.',
  'queue.withdraw': 'Zurückziehen',
  'queue.giveFloorTo': '{name} das Wort erteilen',
  'queue.moveUp': '{name} nach oben',
  'queue.moveDown': '{name} nach unten',
  'queue.remove': '{name} von der Redeliste streichen',
  'queue.giveNext': 'Nächste Wortmeldung aufrufen',
  'queue.settings': 'Einstellungen',
  'queue.openLabel': 'Redeliste offen',
  'queue.timeLimit': 'Redezeit in Sekunden (leer: unbegrenzt)',
  'queue.setTimeLimit': 'Übernehmen',
  'kind.contribution': 'Redebeitrag',
  'kind.pro': 'Pro',
  'kind.contra': 'Contra',
  'kind.question': 'Frage an die Rednerin/den Redner',
  'kind.point_of_order': 'GO-Antrag',
  'request.kind': 'Art der Wortmeldung',
  'request.submit': 'Wortmeldung',
  'request.pointOfOrder': 'GO-Antrag',
  'floor.title': 'Es spricht',
  'floor.you': 'Sie haben das Wort',
  'floor.empty': 'Niemand hat das Wort.',
  'floor.noLimit': 'ohne Zeitbegrenzung',
  'floor.paused': '{time} – angehalten',
  'floor.endOwn': 'Meine Rede ist beendet',
  'floor.selfMuted': 'Ihr Mikrofon ist stummgeschaltet. Schalten Sie es ein, um zu sprechen.',
  'floor.pause': 'Uhr anhalten',
  'floor.resume': 'Uhr weiterlaufen lassen',
  'floor.extend': '+60 s',
  'floor.extendLabel': 'Redezeit um 60 Sekunden verlängern',
  'floor.end': 'Rede beenden',
  'mode.label': 'Modus',
  'mode.congress': 'Parteitag',
  'mode.open': 'Offene Runde',
  'mode.congressNote': 'Parteitag: Zu hören ist, wer das Wort hat, und die Moderation.',
  'mode.openNote': 'Offene Runde: Alle sind zu hören.',
  'history.title': 'Redeliste – Verlauf',
  'history.empty': 'Noch keine Reden.',
  'speech.ended': 'beendet',
  'speech.time_up': 'Zeit abgelaufen',
  'speech.replaced': 'abgelöst',
  'speech.removed': 'entfernt',

  'hearing.heard': 'Sie sind zu hören.',
  'hearing.notHeard': 'Sie sind nicht zu hören. Melden Sie sich zu Wort.',
  'hearing.forceMuted': 'Die Moderation hat Ihr Mikrofon gesperrt.',

  'moderation.actionsFor': 'Aktionen für {name}',
  'moderation.giveFloor': 'Wort erteilen',
  'moderation.mute': 'Mikrofon sperren',
  'moderation.unmute': 'Mikrofon freigeben',
  'moderation.role': 'Rolle',
  'moderation.remove': 'Entfernen',
  'moderation.ban': 'Entfernen und sperren',

  'lobby.title': 'Lobby ({n})',
  'lobby.toggle': 'Lobby an: Neue warten, bis die Moderation sie hereinlässt',
  'lobby.empty': 'Niemand wartet.',
  'lobby.admit': 'Hereinlassen',
  'lobby.deny': 'Abweisen',
  'lobby.waitTitle': 'Bitte warten Sie einen Moment.',
  'lobby.waitText': 'Hallo {name}, Sie sind im Warteraum von „{room}“. Die Moderation lässt Sie gleich herein.',
  'lobby.waitHint': 'Lassen Sie dieses Fenster bitte geöffnet.',
  'lobby.leave': 'Nicht mehr warten',

  'reconnect.trying': 'Die Verbindung ist unterbrochen. Plenum verbindet sich neu …',

  'controls.label': 'Eigene Steuerung',
  'controls.mute': 'Mikrofon stummschalten',
  'controls.muteShort': 'Stumm',
  'controls.camera': 'Kamera',
  'controls.cameraLabel': 'Kamera senden',
  'controls.noCamera': 'Keine Kamera',
  'controls.leave': 'Verlassen',
  'controls.leaveLabel': 'Raum verlassen',
  'controls.selfView': 'Ihr eigenes Bild',

  'ended.leftTitle': 'Sie haben den Raum verlassen.',
  'ended.closedTitle': 'Verbindung beendet',
  'ended.deniedTitle': 'Kein Zutritt',
  'ended.removedTitle': 'Sie wurden entfernt',
  'ended.bannedTitle': 'Zutritt gesperrt',
  'ended.rejoin': 'Wieder beitreten',
  'ended.continueHere': 'Hier weitermachen',
  'closing.replaced': 'Plenum wurde in einem anderen Fenster oder auf einem anderen Gerät geöffnet. Dieses Fenster ist nicht mehr verbunden.',
  'closing.left': 'Sie haben den Raum verlassen.',
  'closing.server_shutdown': 'Der Server wird gerade neu gestartet oder heruntergefahren. Bitte versuchen Sie es gleich noch einmal.',
  'closing.error': 'Die Verbindung wurde wegen eines Fehlers beendet.',
  'closing.denied': 'Die Moderation hat Sie nicht hereingelassen.',
  'closing.removed': 'Die Moderation hat Sie aus dem Raum entfernt.',
  'closing.unknown': 'Der Server hat die Verbindung beendet.',

  'announce.joined': '{name} ist beigetreten.',
  'announce.left': '{name} hat den Raum verlassen.',
  'announce.stage': 'Auf der Bühne: {name}',
  'announce.stageEmpty': 'Niemand ist auf der Bühne.',
  'announce.muted': 'Ihr Mikrofon ist stummgeschaltet.',
  'announce.unmuted': 'Ihr Mikrofon ist an.',
  'announce.floor': '{name} hat das Wort.',
  'announce.floorSelf': 'Sie haben das Wort.',
  'announce.floorEmpty': 'Niemand hat das Wort.',
  'announce.floorWarning': 'Noch {time} Redezeit.',
  'announce.admitted': 'Sie wurden hereingelassen.',
  'announce.role': 'Ihre Rolle ist jetzt: {role}.',
  'announce.reconnected': 'Wieder verbunden.',

  'error.dismiss': 'Meldung schließen',
  'error.bad_request': 'Der Server hat eine Anfrage nicht verstanden. Bitte laden Sie die Seite neu.',
  'error.unsupported_version': 'Diese Seite ist veraltet. Bitte laden Sie sie neu.',
  'error.invalid_token': 'Dieser Einladungslink ist ungültig. Bitte prüfen Sie, ob Sie ihn vollständig geöffnet haben, oder bitten Sie um einen neuen.',
  'error.token_expired': 'Dieser Einladungslink ist abgelaufen. Bitte bitten Sie um einen neuen.',
  'error.not_joined': 'Sie sind noch nicht im Raum. Bitte treten Sie zuerst bei.',
  'error.already_joined': 'Sie sind bereits im Raum.',
  'error.forbidden': 'Das ist in Ihrer Rolle nicht erlaubt.',
  'error.invalid_sdp': 'Die Audio- und Videoverbindung konnte nicht ausgehandelt werden. Ein anderer Browser hilft vielleicht.',
  'error.not_found': 'Diese Person ist nicht mehr im Raum.',
  'error.media_unavailable': 'Audio und Video stehen gerade nicht zur Verfügung. Bitte versuchen Sie es gleich noch einmal.',
  'error.in_lobby': 'Sie warten noch in der Lobby.',
  'error.queue_closed': 'Die Redeliste ist geschlossen. Ein GO-Antrag ist weiter möglich.',
  'error.already_queued': 'Sie stehen mit dieser Art von Wortmeldung schon auf der Redeliste.',
  'error.banned': 'Die Moderation hat Sie aus diesem Raum entfernt und gesperrt.',
  'error.internal': 'Auf dem Server ist ein Fehler aufgetreten. Bitte versuchen Sie es noch einmal.',
  'error.connection_failed': 'Der Server ist nicht erreichbar. Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut.',
  'error.connection_lost': 'Die Verbindung zum Server ist abgebrochen.',
  'error.timeout': 'Der Server antwortet nicht. Bitte versuchen Sie es erneut.',
  'error.unknown': 'Es ist ein unbekannter Fehler aufgetreten ({code}).',
};

const en = {
  'app.name': 'Plenum',
  'lang.label': 'Language',
  'lang.de': 'German',
  'lang.en': 'English',

  'landing.title': 'Welcome to Plenum',
  'landing.text': 'Please open your personal invite link. You find it in your invitation to the congress.',
  'landing.privacy': 'Plenum loads nothing from third parties and uses no trackers.',
  'invite.missing': 'This link holds no invitation. Please open the complete link from your invitation.',
  'invite.malformed': 'This invite link is damaged. Please copy it completely from your invitation.',
  'invite.expired': 'This invite link seems to have expired. If joining fails, please ask for a new link.',

  'preview.greeting': 'Hello, {name}!',
  'preview.room': 'Room: {room}',
  'preview.role': 'Your role: {role}',
  'preview.camera': 'Camera',
  'preview.microphone': 'Microphone',
  'preview.noDevice': 'Not available',
  'preview.deviceFallback': 'Device {n}',
  'preview.videoLabel': 'Preview of your camera',
  'preview.starting': 'Starting camera and microphone …',
  'preview.join': 'Join',
  'preview.joining': 'Connecting …',
  'preview.observer': 'As an observer you watch and listen; you send neither picture nor sound.',

  'media.denied': 'The browser does not allow access to camera and microphone. You take part without picture and sound.',
  'media.notFound': 'No camera and no microphone found. You take part without picture and sound.',
  'media.busy': 'Camera or microphone is in use by another program. You take part without picture and sound.',
  'media.failed': 'Camera and microphone could not be started. You take part without picture and sound.',
  'media.unsupported': 'This browser gives no access to camera and microphone here. You take part without picture and sound.',
  'media.noCamera': 'No camera available – you take part with your microphone only.',
  'media.noMicrophone': 'No microphone available – you take part with your camera only.',
  'media.receiveOnly': 'You send neither picture nor sound.',
  'media.connectionFailed': 'The audio and video connection failed. Please leave the room and join again.',

  'role.admin': 'Administrator',
  'role.moderator': 'Moderator',
  'role.delegate': 'Delegate',
  'role.guest_speaker': 'Guest speaker',
  'role.observer': 'Observer',
  'role.unknown': 'Participant',

  'stage.title': 'Stage',
  'stage.empty': 'Nobody is on stage right now.',
  'stage.self': 'You are on stage.',
  'stage.selfCaption': 'You are on stage',
  'stage.onStage': 'On stage: {name}',
  'stage.pinned': 'chosen by the moderator',
  'stage.floor': 'has the floor',
  'stage.automatic': 'automatic: whoever is speaking',
  'stage.setAutomatic': 'Stage: automatic',
  'stage.videoLabel': 'Stage',
  'tiles.title': 'More participants',
  'tiles.videoLabel': 'Video of {name}',

  'participants.title': 'Participants ({n})',
  'participants.you': '(you)',
  'participants.putOnStageLabel': 'Put {name} on stage',
  'participants.releaseLabel': 'Let the stage be chosen automatically again',
  'status.micOn': 'microphone on',
  'status.muted': 'muted',
  'status.micNone': 'no microphone',
  'status.camOn': 'camera on',
  'status.camOff': 'camera off',
  'status.onStage': 'Stage',
  'status.floor': 'has the floor',
  'status.heard': 'can be heard',
  'status.forceMuted': 'muted by a moderator',
  'participant.unknown': 'Unknown',

  'queue.title': 'Speaker list',
  'queue.open': 'open',
  'queue.closed': 'closed',
  'queue.limit': 'speaking time {time}',
  'queue.noLimit': 'no time limit',
  'queue.empty': 'The speaker list is empty.',
  'queue.place': 'place {n} ({kind})',
  'queue.ownPlaces': 'You are on the speaker list: {places}.',
  'queue.closedHint': 'The speaker list is closed; points of order are still possible.',
  'queue.withdraw': 'Withdraw',
  'queue.giveFloorTo': 'Give the floor to {name}',
  'queue.moveUp': 'Move {name} up',
  'queue.moveDown': 'Move {name} down',
  'queue.remove': 'Strike {name} from the list',
  'queue.giveNext': 'Give the floor to the next',
  'queue.settings': 'Settings',
  'queue.openLabel': 'Speaker list open',
  'queue.timeLimit': 'Speaking time in seconds (empty: unlimited)',
  'queue.setTimeLimit': 'Apply',
  'kind.contribution': 'Contribution',
  'kind.pro': 'Pro',
  'kind.contra': 'Contra',
  'kind.question': 'Question to the speaker',
  'kind.point_of_order': 'Point of order',
  'request.kind': 'Kind of request',
  'request.submit': 'Request to speak',
  'request.pointOfOrder': 'Point of order',
  'floor.title': 'Speaking now',
  'floor.you': 'You have the floor',
  'floor.empty': 'Nobody has the floor.',
  'floor.noLimit': 'no time limit',
  'floor.paused': '{time} – paused',
  'floor.endOwn': 'My speech is over',
  'floor.selfMuted': 'Your microphone is muted. Unmute it to speak.',
  'floor.pause': 'Pause the clock',
  'floor.resume': 'Resume the clock',
  'floor.extend': '+60 s',
  'floor.extendLabel': 'Extend the speaking time by 60 seconds',
  'floor.end': 'End the speech',
  'mode.label': 'Mode',
  'mode.congress': 'Congress',
  'mode.open': 'Open discussion',
  'mode.congressNote': 'Congress: the floor holder and the moderators are heard.',
  'mode.openNote': 'Open discussion: everyone is heard.',
  'history.title': 'Speech history',
  'history.empty': 'No speeches yet.',
  'speech.ended': 'ended',
  'speech.time_up': 'time up',
  'speech.replaced': 'replaced',
  'speech.removed': 'removed',

  'hearing.heard': 'You can be heard.',
  'hearing.notHeard': 'You cannot be heard. Request to speak.',
  'hearing.forceMuted': 'A moderator muted your microphone.',

  'moderation.actionsFor': 'Actions for {name}',
  'moderation.giveFloor': 'Give the floor',
  'moderation.mute': 'Mute microphone',
  'moderation.unmute': 'Allow microphone',
  'moderation.role': 'Role',
  'moderation.remove': 'Remove',
  'moderation.ban': 'Remove and ban',

  'lobby.title': 'Lobby ({n})',
  'lobby.toggle': 'Lobby on: newcomers wait until a moderator admits them',
  'lobby.empty': 'Nobody is waiting.',
  'lobby.admit': 'Admit',
  'lobby.deny': 'Deny',
  'lobby.waitTitle': 'Please wait a moment.',
  'lobby.waitText': 'Hello {name}, you are in the waiting room of “{room}”. A moderator will let you in shortly.',
  'lobby.waitHint': 'Please keep this window open.',
  'lobby.leave': 'Stop waiting',

  'reconnect.trying': 'The connection was interrupted. Plenum is reconnecting …',

  'controls.label': 'Your controls',
  'controls.mute': 'Mute microphone',
  'controls.muteShort': 'Mute',
  'controls.camera': 'Camera',
  'controls.cameraLabel': 'Send camera',
  'controls.noCamera': 'No camera',
  'controls.leave': 'Leave',
  'controls.leaveLabel': 'Leave the room',
  'controls.selfView': 'Your own picture',

  'ended.leftTitle': 'You left the room.',
  'ended.closedTitle': 'Disconnected',
  'ended.deniedTitle': 'Not admitted',
  'ended.removedTitle': 'You were removed',
  'ended.bannedTitle': 'Access barred',
  'ended.rejoin': 'Rejoin',
  'ended.continueHere': 'Continue here',
  'closing.replaced': 'Plenum was opened in another window or on another device. This window is no longer connected.',
  'closing.left': 'You left the room.',
  'closing.server_shutdown': 'The server is restarting or shutting down. Please try again in a moment.',
  'closing.error': 'The connection was closed because of an error.',
  'closing.denied': 'A moderator did not let you in.',
  'closing.removed': 'A moderator removed you from the room.',
  'closing.unknown': 'The server closed the connection.',

  'announce.joined': '{name} joined.',
  'announce.left': '{name} left the room.',
  'announce.stage': 'On stage: {name}',
  'announce.stageEmpty': 'Nobody is on stage.',
  'announce.muted': 'Your microphone is muted.',
  'announce.unmuted': 'Your microphone is on.',
  'announce.floor': '{name} has the floor.',
  'announce.floorSelf': 'You have the floor.',
  'announce.floorEmpty': 'Nobody has the floor.',
  'announce.floorWarning': '{time} of speaking time left.',
  'announce.admitted': 'You were let in.',
  'announce.role': 'Your role is now: {role}.',
  'announce.reconnected': 'Connected again.',

  'error.dismiss': 'Dismiss message',
  'error.bad_request': 'The server did not understand a request. Please reload the page.',
  'error.unsupported_version': 'This page is out of date. Please reload it.',
  'error.invalid_token': 'This invite link is not valid. Please check that you opened it completely, or ask for a new one.',
  'error.token_expired': 'This invite link has expired. Please ask for a new one.',
  'error.not_joined': 'You are not in the room yet. Please join first.',
  'error.already_joined': 'You are already in the room.',
  'error.forbidden': 'Your role does not allow this.',
  'error.invalid_sdp': 'The audio and video connection could not be negotiated. Another browser may help.',
  'error.not_found': 'This person is no longer in the room.',
  'error.media_unavailable': 'Audio and video are not available right now. Please try again in a moment.',
  'error.in_lobby': 'You are still waiting in the lobby.',
  'error.queue_closed': 'The speaker list is closed. A point of order is still possible.',
  'error.already_queued': 'You are already on the speaker list with this kind of request.',
  'error.banned': 'A moderator removed you from this room and barred you from rejoining.',
  'error.internal': 'Something went wrong on the server. Please try again.',
  'error.connection_failed': 'The server cannot be reached. Please check your internet connection and try again.',
  'error.connection_lost': 'The connection to the server was lost.',
  'error.timeout': 'The server does not answer. Please try again.',
  'error.unknown': 'An unknown error occurred ({code}).',
};

const DICTIONARIES = { de, en };

function initialLanguage() {
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage can be disabled; fall back to the browser's language.
  }
  if (LANGUAGES.includes(stored)) return stored;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language || 'en'];
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return 'en';
}

let current = initialLanguage();
const listeners = new Set();

export function language() {
  return current;
}

/** Switches the language, remembers the choice and tells every listener. */
export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Not remembered, but still switched.
  }
  applyStatic(document);
  for (const fn of listeners) fn(lang);
}

export function onLanguageChange(fn) {
  listeners.add(fn);
}

/** Translates `key`, filling `{name}` placeholders from `params`. */
export function t(key, params = {}) {
  const text = DICTIONARIES[current][key] ?? DICTIONARIES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** A human sentence for a protocol error code or a client-side one (connection_failed, …). */
export function errorText(code) {
  const key = `error.${code}`;
  return key in DICTIONARIES.en ? t(key) : t('error.unknown', { code });
}

export function closingText(reason) {
  const key = `closing.${reason}`;
  return key in DICTIONARIES.en ? t(key) : t('closing.unknown');
}

export function roleText(role) {
  const key = `role.${role}`;
  return key in DICTIONARIES.en ? t(key) : t('role.unknown');
}

/**
 * Fills the static markup: `data-i18n` sets the text, `data-i18n-aria` the aria-label,
 * `data-i18n-title` the title. Also sets <html lang> and the document title.
 */
export function applyStatic(root) {
  document.documentElement.lang = current;
  document.title = t('app.name');
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
}
