"""Page text in Bahasa Indonesia (the default) and English."""

from __future__ import annotations

from aiohttp import web

LANGS = ("id", "en")
DEFAULT_LANG = "id"

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "title": "Hadir — verifikasi kehadiran kerja dari rumah",
        "you_are": "Anda masuk sebagai",
        "role.supervisor": "Atasan",
        "role.staff": "Pegawai",
        "unit": "Unit kerja",
        "link_invalid": "Tautan tidak dapat dibuka",
        "link_invalid_hint": "Tautan ini tidak sah, sudah kedaluwarsa, atau telah dicabut. "
        "Mintalah tautan baru kepada admin unit Anda.",
        "person_gone": "Data Anda tidak ditemukan di daftar pegawai.",
        "other_lang": "English",
    },
    "en": {
        "title": "Hadir — work-from-home presence checks",
        "you_are": "You are signed in as",
        "role.supervisor": "Supervisor",
        "role.staff": "Staff member",
        "unit": "Unit",
        "link_invalid": "This link cannot be opened",
        "link_invalid_hint": "The link is invalid, has expired or was revoked. "
        "Ask your unit's administrator for a new one.",
        "person_gone": "You are no longer on the staff roster.",
        "other_lang": "Bahasa Indonesia",
    },
}


def pick_lang(request: web.Request) -> str:
    """``?lang=`` wins, then the cookie it sets, then Indonesian."""
    lang = request.query.get("lang") or request.cookies.get("lang") or DEFAULT_LANG
    return lang if lang in LANGS else DEFAULT_LANG


def t(lang: str, key: str) -> str:
    return MESSAGES[lang][key]
