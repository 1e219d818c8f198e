"""Page text in Bahasa Indonesia (the default) and English.

One dictionary per language holds every string the pages show, the server-rendered
ones and those the scripts use (passed to the page as JSON), including the short
human text of each reason code the signaling protocol and the records carry.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from service.policy import Policy

LANGS = ("id", "en")
DEFAULT_LANG = "id"

MESSAGES: dict[str, dict[str, str]] = {
    "id": {
        "title": "Hadir — verifikasi kehadiran kerja dari rumah",
        "you_are": "Anda masuk sebagai",
        "role.supervisor": "Atasan",
        "role.staff": "Pegawai",
        "unit": "Unit kerja",
        "home_title": "Hadir berjalan",
        "home_hint": "Masuklah dengan tautan pribadi Anda: atasan dan pegawai menerimanya dari "
        "admin unit. Sistem absensi memakai API di /api/v1 (dokumen: /api/v1/openapi.json).",
        "link_invalid": "Tautan tidak dapat dibuka",
        "link_invalid_hint": "Tautan ini tidak sah, sudah kedaluwarsa, atau telah dicabut. "
        "Mintalah tautan baru kepada admin unit Anda.",
        "person_gone": "Data Anda tidak ditemukan di daftar pegawai.",
        "check_gone": "Pemeriksaan ini tidak ditemukan atau bukan untuk pegawai Anda.",
        "other_lang": "English",
        "back": "Kembali ke daftar",
        # supervisor dashboard
        "today_checks": "Pemeriksaan hari ini",
        "no_checks": "Tidak ada pemeriksaan terjadwal hari ini.",
        "col.time": "Waktu",
        "col.staff": "Pegawai",
        "col.uniform": "Seragam",
        "col.status": "Status",
        "col.action": "Tindakan",
        "start_call": "Mulai panggilan",
        "not_yet": "Belum waktunya",
        "window_over": "Waktu habis",
        "awaiting_review": "Menunggu tinjauan Anda",
        "none_awaiting": "Semua hasil sudah ditinjau.",
        "recent_records": "Catatan terbaru",
        "no_records": "Belum ada catatan.",
        "refresh": "Perbarui",
        "more": "Lebih banyak",
        # check and record states
        "check.scheduled": "Terjadwal",
        "check.completed": "Selesai",
        "check.missed": "Terlewat",
        "check.cancelled": "Dibatalkan",
        "status.passed": "Lulus",
        "status.failed": "Tidak lulus",
        "status.inconclusive": "Tidak dapat dipastikan",
        "status.missed": "Terlewat",
        "review.unreviewed": "Belum ditinjau",
        "review.confirmed": "Dikonfirmasi",
        "review.overridden": "Diubah atasan",
        "review.objected": "Keberatan diajukan",
        # uniforms
        "uniform.any": "Bebas (badan terlihat)",
        "uniform.patterned": "Batik / bermotif",
        "uniform.solid": "Seragam polos",
        # vision.colour.PALETTE
        "colour.khaki": "khaki",
        "colour.white": "putih",
        "colour.black": "hitam",
        "colour.grey": "abu-abu",
        "colour.navy": "biru dongker",
        "colour.blue": "biru",
        "colour.green": "hijau",
        "colour.orange": "oranye",
        "colour.red": "merah",
        "colour.brown": "cokelat",
        "colour.maroon": "merah marun",
        "colour.cream": "krem",
        "colour.yellow": "kuning",
        "colour.purple": "ungu",
        "colour.pink": "merah muda",
        # the call
        "call_with": "Panggilan dengan",
        "call.idle": "Siap memanggil",
        "call.ringing": "Memanggil…",
        "call.active": "Terhubung",
        "call.connecting": "Menyambungkan video…",
        "call.ended": "Panggilan selesai",
        "call.reconnecting": "Menyambung kembali…",
        "ended.hangup": "Panggilan diakhiri.",
        "ended.cancelled": "Panggilan dibatalkan.",
        "ended.window_ended": "Waktu pemeriksaan habis.",
        "ended.disconnected": "Sambungan terputus.",
        "ended.server_shutdown": "Server dimatikan.",
        "ended.not_answered": "Tidak dijawab",
        "ended.declined": "Ditolak",
        "staff_ended.not_answered": "Panggilan tidak dijawab. Atasan dapat memanggil lagi.",
        "staff_ended.declined": "Anda menolak panggilan. Atasan dapat memanggil lagi.",
        "decline": "Tolak",
        "presence.online": "Halaman terbuka",
        "presence.push": "Dapat dihubungi lewat notifikasi",
        "presence.seen": "Terakhir terlihat {ago}",
        "presence.never": "Belum pernah terlihat",
        "ago.now": "baru saja",
        "ago.minute": "1 menit lalu",
        "ago.minutes": "{n} menit lalu",
        "ago.hour": "1 jam lalu",
        "ago.hours": "{n} jam lalu",
        "ago.day": "1 hari lalu",
        "ago.days": "{n} hari lalu",
        "mic": "Mikrofon",
        "camera": "Kamera",
        "hangup": "Akhiri panggilan",
        "call_again": "Panggil lagi",
        "ind.face": "Wajah",
        "ind.camera": "Kamera",
        "ind.uniform": "Seragam",
        "ind.location": "Lokasi",
        "camera_on": "Kamera menyala",
        "verdict": "Hasil",
        "verdict.pending": "Sedang dinilai…",
        "verdict.pass": "Lulus",
        "verdict.fail": "Tidak lulus",
        "verdict.inconclusive": "Tidak dapat dipastikan",
        "record_saved": "Catatan tersimpan",
        "no_record": "Tidak ada catatan dari panggilan ini.",
        # review
        "review_title": "Tinjau hasil otomatis",
        "review_hint": "Setiap hasil otomatis harus dikonfirmasi atau diubah oleh atasan, "
        "dengan alasan.",
        "reason": "Alasan",
        "reason_placeholder": "Contoh: wajah dan seragam terlihat jelas selama panggilan",
        "confirm": "Konfirmasi hasil",
        "override": "Ubah hasil",
        "override_to": "Ubah menjadi",
        "override_pick": "— pilih status —",
        "override_status_required": "Pilih status baru untuk mengubah hasil.",
        "entry.review.confirm": "Dikonfirmasi atasan",
        "entry.review.override": "Diubah atasan menjadi",
        "entry.objection": "Keberatan pegawai",
        "objection.waiting": "Keberatan Anda sudah dikirim dan menunggu tinjauan atasan.",
        "objection.reviewed": "Keberatan Anda sudah ditinjau atasan.",
        "record_gone": "Catatan ini tidak ditemukan atau bukan milik pegawai Anda.",
        "reason_required": "Tuliskan alasannya.",
        "review_done": "Tinjauan tersimpan",
        "review_failed": "Tinjauan gagal disimpan",
        "object_failed": "Keberatan gagal dikirim",
        # staff page
        "staff_intro": "Atasan Anda akan menelepon melalui halaman ini pada jam pemeriksaan. "
        "Kamera hanya menyala saat panggilan atau saat Anda memeriksanya sendiri.",
        "next_check": "Pemeriksaan berikutnya",
        "next_check_none": "Tidak ada pemeriksaan terjadwal lagi.",
        "next_check_open": "Sedang berlangsung: atasan dapat menelepon sekarang",
        "window": "Waktu pemeriksaan",
        "wear": "Pakaian",
        "self_check": "Cek mandiri",
        "self_check_hint": "Periksa cahaya, posisi wajah, dan seragam sebelum dipanggil. "
        "Gambar hanya dinilai sekali dan tidak disimpan.",
        "self_check_start": "Periksa kamera saya",
        "self_check_again": "Periksa lagi",
        "self_check_running": "Memeriksa…",
        "camera_close": "Tutup kamera",
        "check.light": "Cahaya",
        "self.ok.light": "Cahaya cukup",
        "self.ok.face": "Wajah terlihat jelas",
        "self.ok.uniform": "Seragam terlihat sesuai",
        "self.unsure": "Belum dapat dipastikan",
        "self_check_failed": "Pemeriksaan gagal",
        "api.busy": "Server sedang sibuk menilai panggilan. Coba lagi sebentar lagi.",
        "api.bad_image": "Gambar kamera tidak terbaca. Coba lagi.",
        "why_title": "Mengapa kami meminta izin",
        "why_camera": "Kamera dan mikrofon: untuk panggilan video dengan atasan. Server memeriksa "
        "wajah, kamera menyala, dan seragam; gambar tidak disimpan kecuali kebijakan "
        "mengizinkan satu foto kecil per pemeriksaan.",
        "why_location": "Lokasi: diminta sekali per panggilan. Hanya jarak ke alamat rumah "
        "terdaftar yang disimpan, bukan koordinat Anda.",
        "camera_denied": "Kamera tidak dapat dibuka. Izinkan akses kamera di pengaturan browser.",
        "incoming_call": "Panggilan masuk dari",
        "answer": "Jawab",
        "waiting_call": "Menunggu panggilan dari atasan…",
        "your_records": "Catatan Anda",
        "object": "Ajukan keberatan",
        "object_hint": "Anda berhak mengajukan keberatan atas keputusan otomatis (UU 27/2022).",
        "object_done": "Keberatan terkirim",
        "guide.center": "Posisikan wajah di tengah layar",
        "guide.light": "Tambah cahaya: nyalakan lampu atau hadap ke jendela",
        "guide.uniform": "Tunjukkan seragam: mundur sedikit agar badan terlihat",
        "guide.one_face": "Pastikan hanya Anda yang terlihat di kamera",
        "guide.camera": "Jangan tutup kamera dan biarkan halaman ini terbuka",
        "guide.ok": "Posisi sudah baik",
        # reasons (protocol indicators and records)
        "r.face_ok": "Wajah terlihat",
        "r.camera_ok": "Kamera menyala",
        "r.uniform_ok": "Seragam sesuai",
        "r.too_few_samples": "Gambar terlalu sedikit untuk dinilai",
        "r.no_face": "Wajah tidak terlihat",
        "r.face_not_found": "Ada orang, tetapi wajah tidak terbaca",
        "r.pattern_uncertain": "Polos atau bermotif tidak dapat dipastikan",
        "r.multiple_faces": "Lebih dari satu wajah",
        "r.face_too_small": "Wajah terlalu jauh",
        "r.camera_black": "Layar hitam",
        "r.camera_covered": "Kamera tertutup",
        "r.camera_frozen": "Gambar membeku",
        "r.low_light": "Cahaya kurang",
        "r.single_image": "Hanya satu gambar",
        "r.no_frames": "Tidak ada gambar dari kamera",
        "r.page_hidden": "Halaman ditutup/disembunyikan",
        "r.away": "Menyambung kembali…",
        "r.interrupted": "Panggilan terputus sebelum selesai",
        "r.muted": "Kamera dijeda",
        "r.ended": "Kamera dimatikan",
        "r.camera_off": "Kamera terlalu sering mati",
        "r.torso_not_visible": "Badan/seragam tidak terlihat",
        "r.not_uniform_colour": "Bukan seragam polos",
        "r.wrong_uniform_colour": "Warna seragam tidak sesuai",
        "r.colour_uncertain": "Warna tidak dapat dipastikan",
        "r.at_home": "Di rumah",
        "r.outside_home": "Di luar rumah",
        "r.inaccurate": "Lokasi kurang akurat",
        "r.no_home": "Alamat rumah belum terdaftar",
        "r.permission_denied": "Izin lokasi ditolak",
        "r.location_unavailable": "Lokasi tidak tersedia",
        "r.waiting": "Menunggu lokasi",
        "r.not_sent": "Lokasi tidak dikirim",
        "r.no_call": "Tidak ada panggilan",
        "r.analysis_unavailable": "Server sedang penuh: tidak dianalisis",
        "r.server_busy": "Server terlalu sibuk untuk menilai gambar",
        # a live indicator still waiting, by its reason
        "pending.too_few_samples": "Mengumpulkan gambar…",
        # the enrolled face and the identity match (docs/privacy.md)
        "ind.identity": "Identitas",
        "r.identity_ok": "Wajah cocok dengan wajah terdaftar",
        "r.identity_mismatch": "Wajah tidak cocok dengan wajah terdaftar",
        "r.identity_uncertain": "Kecocokan wajah tidak dapat dipastikan",
        "r.not_enrolled": "Wajah pegawai belum didaftarkan",
        "pending.identity_uncertain": "Mencocokkan wajah…",
        "face.title": "Pendaftaran wajah",
        "face.none": "Wajah Anda belum didaftarkan.",
        "face.enrolled": "Wajah Anda terdaftar sejak",
        "face.about": "Apa yang disimpan dan hak Anda",
        "face.what": "Yang disimpan: deskriptor wajah (128 angka yang dihitung dari foto), "
        "terenkripsi. Foto yang diambil saat pendaftaran tidak disimpan.",
        "face.why": "Tujuannya: saat panggilan pemeriksaan, server mencocokkan wajah di kamera "
        "dengan deskriptor ini, untuk memastikan yang hadir adalah Anda sendiri.",
        "face.how_long": "Lama penyimpanan: sampai Anda menghapusnya, mendaftar ulang "
        "(deskriptor lama diganti), atau tidak lagi tercatat aktif sebagai pegawai.",
        "face.who": "Yang melihat: tidak seorang pun melihat deskriptor. Atasan dan sistem "
        "absensi hanya melihat hasil pencocokan (skor dan cocok/tidak) di catatan pemeriksaan.",
        "face.object": "Hak Anda (UU 27/2022 tentang Pelindungan Data Pribadi): Anda boleh "
        "menolak, menghapus pendaftaran kapan saja dengan tombol di bawah, dan mengajukan "
        "keberatan atas setiap catatan. Hasil yang tidak pasti tidak pernah menjadi "
        '"tidak lulus": atasan yang memutuskan.',
        "face.consent": "Saya telah membaca penjelasan ini dan menyetujui pendaftaran wajah saya.",
        "face.enrol": "Daftarkan wajah saya",
        "face.enrol_again": "Daftarkan ulang",
        "face.delete": "Hapus pendaftaran wajah",
        "face.running": "Mengambil 3 gambar… lihat ke kamera.",
        "face.done": "Wajah Anda terdaftar.",
        "face.deleted": "Pendaftaran wajah Anda telah dihapus.",
        "face.failed": "Pendaftaran gagal",
        "api.face.no_face": "Wajah tidak terlihat. Posisikan wajah di tengah layar.",
        "api.face.multiple_faces": "Pastikan hanya Anda yang terlihat di kamera.",
        "api.face.face_too_small": "Wajah terlalu jauh. Dekatkan wajah ke kamera.",
        "api.face.low_light": "Cahaya kurang. Nyalakan lampu atau hadap ke jendela.",
        "api.face.camera_black": "Layar hitam. Periksa kamera.",
        "api.face.camera_covered": "Kamera tertutup. Buka penutup kamera.",
        "api.face.faces_differ": "Gambar menunjukkan wajah yang berbeda. Coba lagi sendirian.",
        "api.face.identity_check_off": "Organisasi Anda tidak memakai pencocokan wajah.",
        # errors the call server sends (docs/protocol.md, "Error codes")
        "e.busy": "Pegawai sedang dalam panggilan lain, atau kapasitas analisis penuh.",
        "e.outside_window": "Di luar waktu pemeriksaan.",
        "e.not_found": "Pemeriksaan tidak ditemukan.",
        "e.forbidden": "Anda tidak berhak melakukan ini.",
        "e.unauthorized": "Tautan tidak sah atau kedaluwarsa.",
        "e.invalid": "Server tidak dapat membaca pesan halaman ini. Muat ulang halaman.",
        "e.too_large": "Pesan halaman ini terlalu besar. Muat ulang halaman.",
        "e.rate_limited": "Terlalu banyak permintaan. Tunggu sebentar, lalu coba lagi.",
        "e.not_joined": "Belum tersambung ke server. Tunggu sebentar, lalu coba lagi.",
        "e.bad_state": "Panggilan sudah berubah (misalnya sudah dijawab atau diakhiri).",
        "e.internal": "Terjadi kesalahan di server. Coba lagi.",
        "e.other": "Terjadi kesalahan. Coba lagi atau muat ulang halaman.",
        "e.offline": "Sambungan ke server terputus. Menyambung ulang…",
        # errors the API answers the review and objection forms with
        "api.bad_parameter": "Alasan wajib diisi, paling banyak 2.000 karakter.",
        "api.bad_request": "Server tidak dapat membaca permintaan ini. Muat ulang halaman.",
        "api.unauthorized": "Tautan Anda tidak sah lagi atau sudah kedaluwarsa. "
        "Mintalah tautan baru kepada admin unit.",
        "api.forbidden": "Catatan ini bukan milik Anda atau pegawai Anda.",
        "api.not_found": "Catatan tidak ditemukan.",
        "api.conflict": "Catatan ini sudah berubah. Muat ulang halaman.",
        "api.objection.conflict": "Anda sudah mengajukan keberatan atas catatan ini. "
        "Satu catatan hanya dapat diajukan keberatan satu kali.",
        "api.too_large": "Alasan terlalu panjang.",
        "api.unsupported_media_type": "Server tidak dapat membaca permintaan ini. "
        "Muat ulang halaman.",
        "api.idempotency_key_reused": "Permintaan ini bertabrakan dengan yang sebelumnya. "
        "Muat ulang halaman.",
        "api.network": "Server tidak dapat dihubungi. Periksa sambungan, lalu coba lagi.",
        # push notifications (service/push); {…} filled by the server
        "push.title": "Notifikasi panggilan",
        "push.offer": "Aktifkan notifikasi panggilan",
        "push.explain": "Agar ponsel Anda berdering saat atasan memanggil, juga ketika halaman "
        "ini tertutup, dan mengingatkan beberapa menit sebelum pemeriksaan.",
        "push.on": "Notifikasi panggilan aktif.",
        "push.denied": "Notifikasi diblokir. Izinkan notifikasi untuk situs ini di pengaturan "
        "peramban.",
        "push.unsupported": "Peramban ini tidak mendukung notifikasi. Di iPhone, tambahkan "
        "halaman ini ke Layar Utama, lalu buka dari sana.",
        "push.failed": "Notifikasi belum dapat diaktifkan. Coba lagi nanti.",
        "push.ring_title": "Panggilan dari {supervisor}",
        "push.ring_body": "Ketuk untuk menjawab panggilan video.",
        "push.reminder_title": "Pemeriksaan pukul {time} dalam {minutes} menit",
        "push.reminder_body": "Siapkan kamera, cahaya, dan seragam Anda.",
        "push.app_description": "Verifikasi kehadiran kerja dari rumah",
        "weekday": "Senin,Selasa,Rabu,Kamis,Jumat,Sabtu,Minggu",
        "month": "Januari,Februari,Maret,April,Mei,Juni,Juli,Agustus,September,Oktober,"
        "November,Desember",
    },
    "en": {
        "title": "Hadir — work-from-home presence checks",
        "you_are": "You are signed in as",
        "role.supervisor": "Supervisor",
        "role.staff": "Staff member",
        "unit": "Unit",
        "home_title": "Hadir is running",
        "home_hint": "Sign in with your personal link: supervisors and staff receive theirs "
        "from their unit's administrator. Attendance systems use the API at /api/v1 "
        "(document: /api/v1/openapi.json).",
        "link_invalid": "This link cannot be opened",
        "link_invalid_hint": "The link is invalid, has expired or was revoked. "
        "Ask your unit's administrator for a new one.",
        "person_gone": "You are no longer on the staff roster.",
        "check_gone": "This check does not exist or is not for one of your staff.",
        "other_lang": "Bahasa Indonesia",
        "back": "Back to the list",
        "today_checks": "Today's checks",
        "no_checks": "No checks are scheduled today.",
        "col.time": "Time",
        "col.staff": "Staff member",
        "col.uniform": "Uniform",
        "col.status": "Status",
        "col.action": "Action",
        "start_call": "Start call",
        "not_yet": "Not yet open",
        "window_over": "Window over",
        "awaiting_review": "Waiting for your review",
        "none_awaiting": "Every result has been reviewed.",
        "recent_records": "Recent records",
        "no_records": "No records yet.",
        "refresh": "Refresh",
        "more": "More",
        "check.scheduled": "Scheduled",
        "check.completed": "Completed",
        "check.missed": "Missed",
        "check.cancelled": "Cancelled",
        "status.passed": "Passed",
        "status.failed": "Failed",
        "status.inconclusive": "Inconclusive",
        "status.missed": "Missed",
        "review.unreviewed": "Not reviewed",
        "review.confirmed": "Confirmed",
        "review.overridden": "Overridden",
        "review.objected": "Objection filed",
        "uniform.any": "Any (torso visible)",
        "uniform.patterned": "Batik / patterned",
        "uniform.solid": "Plain uniform",
        "colour.khaki": "khaki",
        "colour.white": "white",
        "colour.black": "black",
        "colour.grey": "grey",
        "colour.navy": "navy",
        "colour.blue": "blue",
        "colour.green": "green",
        "colour.orange": "orange",
        "colour.red": "red",
        "colour.brown": "brown",
        "colour.maroon": "maroon",
        "colour.cream": "cream",
        "colour.yellow": "yellow",
        "colour.purple": "purple",
        "colour.pink": "pink",
        "call_with": "Call with",
        "call.idle": "Ready to call",
        "call.ringing": "Ringing…",
        "call.active": "Connected",
        "call.connecting": "Connecting video…",
        "call.ended": "Call ended",
        "call.reconnecting": "Reconnecting…",
        "ended.hangup": "The call was ended.",
        "ended.cancelled": "The call was cancelled.",
        "ended.window_ended": "The check window has ended.",
        "ended.disconnected": "The connection was lost.",
        "ended.server_shutdown": "The server shut down.",
        "ended.not_answered": "Not answered",
        "ended.declined": "Declined",
        "staff_ended.not_answered": "The call was not answered. Your supervisor may call again.",
        "staff_ended.declined": "You declined the call. Your supervisor may call again.",
        "decline": "Decline",
        "presence.online": "Page open",
        "presence.push": "Reachable by notification",
        "presence.seen": "Last seen {ago}",
        "presence.never": "Never seen",
        "ago.now": "just now",
        "ago.minute": "1 minute ago",
        "ago.minutes": "{n} minutes ago",
        "ago.hour": "1 hour ago",
        "ago.hours": "{n} hours ago",
        "ago.day": "1 day ago",
        "ago.days": "{n} days ago",
        "mic": "Microphone",
        "camera": "Camera",
        "hangup": "End call",
        "call_again": "Call again",
        "ind.face": "Face",
        "ind.camera": "Camera",
        "ind.uniform": "Uniform",
        "ind.location": "Location",
        "camera_on": "Camera on",
        "verdict": "Result",
        "verdict.pending": "Being assessed…",
        "verdict.pass": "Passed",
        "verdict.fail": "Failed",
        "verdict.inconclusive": "Inconclusive",
        "record_saved": "Record saved",
        "no_record": "This call left no record.",
        "review_title": "Review the automated result",
        "review_hint": "Every automated result is confirmed or overridden by the supervisor, "
        "with a reason.",
        "reason": "Reason",
        "reason_placeholder": "E.g. face and uniform clearly visible throughout the call",
        "confirm": "Confirm result",
        "override": "Override result",
        "override_to": "Change to",
        "override_pick": "— choose a status —",
        "override_status_required": "Choose the new status to change the result.",
        "entry.review.confirm": "Confirmed by the supervisor",
        "entry.review.override": "Changed by the supervisor to",
        "entry.objection": "Staff objection",
        "objection.waiting": "Your objection was sent and waits for your supervisor's review.",
        "objection.reviewed": "Your supervisor has reviewed your objection.",
        "record_gone": "This record was not found or is not one of your staff's.",
        "reason_required": "Please give a reason.",
        "review_done": "Review saved",
        "review_failed": "The review could not be saved",
        "object_failed": "The objection could not be sent",
        "staff_intro": "Your supervisor will call you on this page at check times. "
        "The camera is on only during a call or when you check it yourself.",
        "next_check": "Next check",
        "next_check_none": "No more checks scheduled.",
        "next_check_open": "Open now: your supervisor may call at any moment",
        "window": "Check window",
        "wear": "Wear",
        "self_check": "Self-check",
        "self_check_hint": "Check the light, your framing and your uniform before the call. "
        "The picture is judged once and not kept.",
        "self_check_start": "Check my camera",
        "self_check_again": "Check again",
        "self_check_running": "Checking…",
        "camera_close": "Close camera",
        "check.light": "Light",
        "self.ok.light": "Enough light",
        "self.ok.face": "Face clearly visible",
        "self.ok.uniform": "Uniform looks right",
        "self.unsure": "Not sure yet",
        "self_check_failed": "The self-check failed",
        "api.busy": "The server is busy judging calls. Try again in a moment.",
        "api.bad_image": "The camera picture could not be read. Try again.",
        "why_title": "Why we ask for permissions",
        "why_camera": "Camera and microphone: for the video call with your supervisor. The "
        "server checks your face, that the camera is on and your uniform; no pictures are "
        "kept unless the policy allows one small still per check.",
        "why_location": "Location: asked once per call. Only the distance to your registered "
        "home is kept, never your coordinates.",
        "camera_denied": "The camera could not be opened. Allow camera access in the browser "
        "settings.",
        "incoming_call": "Incoming call from",
        "answer": "Answer",
        "waiting_call": "Waiting for your supervisor's call…",
        "your_records": "Your records",
        "object": "Object",
        "object_hint": "You may object to an automated decision (UU 27/2022).",
        "object_done": "Objection sent",
        "guide.center": "Put your face in the middle of the screen",
        "guide.light": "More light: turn on a lamp or face a window",
        "guide.uniform": "Show your uniform: step back so your torso is visible",
        "guide.one_face": "Make sure only you are in view",
        "guide.camera": "Do not cover the camera and keep this page open",
        "guide.ok": "You are well placed",
        "r.face_ok": "Face visible",
        "r.camera_ok": "Camera on",
        "r.uniform_ok": "Uniform matches",
        "r.too_few_samples": "Too few frames to judge",
        "r.no_face": "No face visible",
        "r.face_not_found": "A person is there, but the face was not found",
        "r.pattern_uncertain": "Could not tell whether the top is plain or patterned",
        "r.multiple_faces": "More than one face",
        "r.face_too_small": "Face too far away",
        "r.camera_black": "Black picture",
        "r.camera_covered": "Camera covered",
        "r.camera_frozen": "Frozen picture",
        "r.low_light": "Too dark",
        "r.single_image": "A single image only",
        "r.no_frames": "No picture from the camera",
        "r.page_hidden": "Page hidden or closed",
        "r.away": "Reconnecting…",
        "r.interrupted": "The call was cut short",
        "r.muted": "Camera paused",
        "r.ended": "Camera turned off",
        "r.camera_off": "Camera off too often",
        "r.torso_not_visible": "Torso/uniform not visible",
        "r.not_uniform_colour": "Not a plain uniform",
        "r.wrong_uniform_colour": "Wrong uniform colour",
        "r.colour_uncertain": "Colour uncertain",
        "r.at_home": "At home",
        "r.outside_home": "Away from home",
        "r.inaccurate": "Location too inaccurate",
        "r.no_home": "No home address on file",
        "r.permission_denied": "Location permission denied",
        "r.location_unavailable": "Location unavailable",
        "r.waiting": "Waiting for location",
        "r.not_sent": "Location not sent",
        "r.no_call": "No call",
        "r.analysis_unavailable": "Server busy: not analysed",
        "r.server_busy": "Server too busy to judge the frames",
        "pending.too_few_samples": "Collecting frames…",
        # the enrolled face and the identity match (docs/privacy.md)
        "ind.identity": "Identity",
        "r.identity_ok": "The face matches the enrolled face",
        "r.identity_mismatch": "The face does not match the enrolled face",
        "r.identity_uncertain": "The face match is uncertain",
        "r.not_enrolled": "The staff member's face is not enrolled",
        "pending.identity_uncertain": "Matching the face…",
        "face.title": "Face enrolment",
        "face.none": "Your face is not enrolled.",
        "face.enrolled": "Your face has been enrolled since",
        "face.about": "What is kept, and your rights",
        "face.what": "What is kept: a face descriptor (128 numbers computed from the pictures), "
        "encrypted. The pictures taken to enrol are not kept.",
        "face.why": "Why: during a check's call, the server matches the face on camera against "
        "this descriptor, to make sure the person present is you.",
        "face.how_long": "For how long: until you delete it, enrol again (the old descriptor "
        "is replaced), or are no longer an active member of staff.",
        "face.who": "Who sees it: nobody sees the descriptor. Your supervisor and the "
        "attendance system see only the match result (scores, match or not) in the check's "
        "record.",
        "face.object": "Your rights (UU 27/2022 on Personal Data Protection): you may refuse, "
        "delete the enrolment at any time with the button below, and object to any record. "
        'An uncertain match never becomes a "fail": your supervisor decides.',
        "face.consent": "I have read this and consent to enrolling my face.",
        "face.enrol": "Enrol my face",
        "face.enrol_again": "Enrol again",
        "face.delete": "Delete my face enrolment",
        "face.running": "Taking 3 pictures… look at the camera.",
        "face.done": "Your face is enrolled.",
        "face.deleted": "Your face enrolment was deleted.",
        "face.failed": "Enrolment failed",
        "api.face.no_face": "No face seen. Put your face in the middle of the screen.",
        "api.face.multiple_faces": "Make sure only you are on camera.",
        "api.face.face_too_small": "Your face is too far. Come closer to the camera.",
        "api.face.low_light": "Too dark. Turn on a light or face a window.",
        "api.face.camera_black": "The picture is black. Check the camera.",
        "api.face.camera_covered": "The camera is covered. Uncover it.",
        "api.face.faces_differ": "The pictures show different faces. Try again alone.",
        "api.face.identity_check_off": "Your organisation does not use the face match.",
        "e.busy": "The staff member is in another call, or analysis capacity is full.",
        "e.outside_window": "Outside the check window.",
        "e.not_found": "Check not found.",
        "e.forbidden": "You are not allowed to do this.",
        "e.unauthorized": "The link is invalid or has expired.",
        "e.invalid": "The server could not read this page's message. Reload the page.",
        "e.too_large": "This page's message was too large. Reload the page.",
        "e.rate_limited": "Too many requests. Wait a moment, then try again.",
        "e.not_joined": "Not connected to the server yet. Wait a moment, then try again.",
        "e.bad_state": "The call has moved on (answered or ended already, for example).",
        "e.internal": "The server ran into a problem. Try again.",
        "e.other": "Something went wrong. Try again or reload the page.",
        "e.offline": "Lost the connection to the server. Reconnecting…",
        "api.bad_parameter": "A reason is required, at most 2,000 characters.",
        "api.bad_request": "The server could not read this request. Reload the page.",
        "api.unauthorized": "Your link is no longer valid or has expired. "
        "Ask your unit's administrator for a new one.",
        "api.forbidden": "This record is not yours or your staff's.",
        "api.not_found": "Record not found.",
        "api.conflict": "This record has changed. Reload the page.",
        "api.objection.conflict": "You have already objected to this record. "
        "A record takes one objection.",
        "api.too_large": "The reason is too long.",
        "api.unsupported_media_type": "The server could not read this request. Reload the page.",
        "api.idempotency_key_reused": "This request clashes with an earlier one. Reload the page.",
        "api.network": "The server cannot be reached. Check the connection, then try again.",
        # push notifications (service/push); {…} filled by the server
        "push.title": "Call notifications",
        "push.offer": "Turn on call notifications",
        "push.explain": "So your phone rings when your supervisor calls, even with this page "
        "closed, and reminds you a few minutes before a check.",
        "push.on": "Call notifications are on.",
        "push.denied": "Notifications are blocked. Allow notifications for this site in the "
        "browser settings.",
        "push.unsupported": "This browser does not support notifications. On an iPhone, add "
        "this page to the Home Screen, then open it from there.",
        "push.failed": "Notifications could not be turned on. Try again later.",
        "push.ring_title": "Call from {supervisor}",
        "push.ring_body": "Tap to answer the video call.",
        "push.reminder_title": "Check at {time} in {minutes} minutes",
        "push.reminder_body": "Get your camera, light and uniform ready.",
        "push.app_description": "Work-from-home attendance checks",
        "weekday": "Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday",
        "month": "January,February,March,April,May,June,July,August,September,October,"
        "November,December",
    },
}


def pick_lang(request: web.Request) -> str:
    """``?lang=`` wins, then the cookie it sets, then Indonesian."""
    lang = request.query.get("lang") or request.cookies.get("lang") or DEFAULT_LANG
    return lang if lang in LANGS else DEFAULT_LANG


def t(lang: str, key: str) -> str:
    return MESSAGES[lang][key]


def reason_text(lang: str, code: str) -> str:
    """A reason code for people; an unknown code is shown as it is."""
    return MESSAGES[lang].get(f"r.{code}", code)


def pending_text(lang: str, code: str) -> str:
    """A live indicator's reason while it is still pending: what is under way
    ("Mengumpulkan gambar…") where that differs from the same code in a record."""
    return MESSAGES[lang].get(f"pending.{code}") or reason_text(lang, code)


def long_date(lang: str, at: datetime) -> str:
    """``Selasa, 24 November 2026`` in the page's language."""
    weekday = t(lang, "weekday").split(",")[at.weekday()]
    month = t(lang, "month").split(",")[at.month - 1]
    return f"{weekday}, {at.day} {month} {at.year}"


def uniform_text(lang: str, policy: str) -> str:
    """A uniform policy (``solid:khaki,white``, ``patterned``, ``any``) in words; a colour
    given as hex (``#C3B091``) is shown as it is."""
    kind, _, colours = policy.partition(":")
    label = MESSAGES[lang].get(f"uniform.{kind}", policy)
    if not colours:
        return label
    words = (MESSAGES[lang].get(f"colour.{c}", c) for c in colours.split(","))
    return f"{label}: {', '.join(words)}"


def uniform_label(lang: str, policy: Policy, due_at: datetime, uniform: str) -> str:
    """What a check due at ``due_at`` asks staff to wear: the organisation's name for that
    weekday's uniform ("PDH khaki", "Pakaian adat Betawi") when the check carries that
    day's rule, else its uniform policy in words (a day without a label of its own, or a
    check made before the policy changed)."""
    rule = policy.uniform_for(due_at.astimezone(policy.zone).date())
    if rule is not None and rule.policy == uniform and rule.label != rule.policy:
        return rule.label
    return uniform_text(lang, uniform)
