"""A small message catalogue (Vietnamese first, English second) and date formats.

Templates call ``_("key")``; a missing key shows the key itself, so a gap is visible
rather than fatal. Dates shown to users: ``23/11/2021`` and, in prose,
"ngày 23 tháng 11 năm 2021".
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from kernel import clock
from notifications import dates
from workflows import catalog
from workflows.definition import Vocabulary

LANGUAGES = ("vi", "en")
DEFAULT = "vi"

# key → (Vietnamese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    # layout and navigation
    "app.title": ("Theo dõi đoàn ra và viện trợ", "Trips and aid tracking"),
    "nav.dashboard": ("Tổng quan", "Dashboard"),
    "tick.fired": ("{n} mốc thời hạn đã đến", "{n} timers fired"),
    "tick.window_closed": (
        "ngoài giờ gửi thư: thông báo chờ đến giờ làm việc",
        "outside the send window: notices wait for office hours",
    ),
    "tick.sent": (
        "đã gửi {sent}, gửi lại sau {retried}, lỗi {failed}, tạm giữ {parked}",
        "sent {sent}, retry later {retried}, failed {failed}, parked {parked}",
    ),
    "tick.send_failed": ("gửi thư lỗi: {error}", "sending failed: {error}"),
    "nav.cases": ("Hồ sơ", "Cases"),
    "nav.new_decision": ("Quyết định mới", "New decision"),
    "nav.import": ("Nhập dữ liệu", "Import"),
    "nav.notices": ("Thông báo", "Notices"),
    "nav.calendar": ("Lịch làm việc", "Calendar"),
    "nav.users": ("Người dùng", "Users"),
    "nav.units": ("Đơn vị", "Units"),
    "nav.compliance": ("Báo cáo tuân thủ", "Compliance"),
    "nav.escalations": ("Kiến nghị xử lý", "Escalations"),
    "nav.mail": ("Hộp thư thử", "Mail catcher"),
    "nav.my_cases": ("Hồ sơ của đơn vị", "Our cases"),
    "nav.logout": ("Đăng xuất", "Log out"),
    "nav.login": ("Đăng nhập", "Log in"),
    "nav.api": ("API", "API"),
    "lang.switch": ("English", "Tiếng Việt"),
    "role.admin": ("Quản trị", "Administrator"),
    "role.coordinator": ("Chuyên viên theo dõi", "Coordinator"),
    "role.unit": ("Đơn vị", "Unit"),
    "role.leader": ("Lãnh đạo", "Leadership"),
    # login
    "login.title": ("Đăng nhập", "Log in"),
    "login.email": ("Thư điện tử", "E-mail"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Log in"),
    "login.failed": ("Sai thư điện tử hoặc mật khẩu.", "Wrong e-mail or password."),
    "login.limited": (
        "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
        "Too many failed logins. Please try again in {minutes} minutes.",
    ),
    "login.expired": (
        "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.",
        "Your session has expired; please log in again.",
    ),
    # errors
    "error.title": ("Không thực hiện được", "Cannot do that"),
    "error.403": ("Bạn không có quyền truy cập trang này.", "You may not open this page."),
    "error.404": ("Không tìm thấy trang hoặc hồ sơ.", "Page or case not found."),
    "error.csrf": (
        "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.",
        "The form has expired or is invalid. Please reload the page and try again.",
    ),
    "error.stale": (
        "Hồ sơ vừa được người khác thay đổi. Vui lòng xem lại trạng thái mới rồi thực hiện lại.",
        "Someone else changed this case meanwhile. Please review its new state and try again.",
    ),
    "error.not_allowed": (
        "Thao tác này không được phép ở trạng thái hiện tại của hồ sơ.",
        "This action is not allowed in the case's current state.",
    ),
    "error.back": ("Quay lại", "Go back"),
    "link.visitor": ("Nộp báo cáo qua liên kết", "Filing through a link"),
    "link.refused_title": ("Liên kết không hợp lệ", "Invalid link"),
    "link.refused": (
        "Liên kết nộp báo cáo này không hợp lệ hoặc đã hết hạn. Vui lòng liên hệ phòng "
        "theo dõi để nhận liên kết mới, hoặc đăng nhập bằng tài khoản của đơn vị.",
        "This report link is invalid or has expired. Please ask the coordinators for a new "
        "link, or log in with your unit's account.",
    ),
    # dashboard
    "dash.title": ("Tổng quan", "Dashboard"),
    "dash.counts": ("Số hồ sơ theo trạng thái", "Cases by state"),
    "dash.overdue": ("Hồ sơ quá hạn", "Overdue cases"),
    "dash.upcoming": (
        "Hạn nộp trong 10 ngày làm việc tới",
        "Deadlines in the next 10 working days",
    ),
    "dash.escalations": ("Đang kiến nghị xử lý", "Escalations waiting"),
    "dash.notices": ("Thông báo lỗi hoặc chờ duyệt", "Notices failed or waiting for approval"),
    "dash.none": ("Không có.", "None."),
    "dash.days_overdue": ("Số ngày quá hạn", "Days overdue"),
    "dash.tick": ("Chuyển đồng hồ và chạy bộ hẹn giờ", "Move the clock and run timers"),
    "dash.clock": ("Đồng hồ thử nghiệm", "Demo clock"),
    "dash.ticked": (
        "Đồng hồ đã chuyển thêm {days} ngày: {summary}.",
        "Clock moved {days} days: {summary}.",
    ),
    # case fields
    "f.id": ("Mã", "ID"),
    "f.name": ("Họ và tên / Tên", "Name"),
    "f.position": ("Chức vụ", "Position"),
    "f.workflow": ("Loại hồ sơ", "Case type"),
    "f.state": ("Trạng thái", "State"),
    "f.unit": ("Đơn vị", "Unit"),
    "f.category": ("Diện quản lý", "Management category"),
    "f.issuer": ("Cơ quan quyết định", "Issuer"),
    "f.decision": ("Quyết định", "Decision"),
    "f.decision_number": ("Số quyết định", "Decision number"),
    "f.decided_on": ("Ngày quyết định", "Decision date"),
    "f.country_codes": ("Nước đến", "Destinations"),
    "f.purpose": ("Mục đích", "Purpose"),
    "f.email": ("Thư điện tử", "E-mail"),
    "f.planned_start": ("Ngày đi dự kiến", "Planned departure"),
    "f.planned_end": ("Ngày về dự kiến", "Planned return"),
    "f.actual_start": ("Ngày đi thực tế", "Actual departure"),
    "f.actual_end": ("Ngày về thực tế", "Actual return"),
    # names the case columns had before migration 0003 (history entries written then)
    "f.destinations": ("Nước đến", "Destinations"),
    "f.planned_departure": ("Ngày đi dự kiến", "Planned departure"),
    "f.planned_return": ("Ngày về dự kiến", "Planned return"),
    "f.actual_departure": ("Ngày đi thực tế", "Actual departure"),
    "f.actual_return": ("Ngày về thực tế", "Actual return"),
    "f.deadline": ("Hạn nộp báo cáo", "Report deadline"),
    "f.report_filed_on": ("Ngày nộp báo cáo", "Report filed on"),
    "f.filed_late": ("Nộp muộn", "Filed late"),
    "f.escalation_level": ("Mức kiến nghị", "Escalation level"),
    "f.version": ("Phiên bản", "Version"),
    "f.created_at": ("Ngày tạo", "Created"),
    "f.period_from": ("Từ ngày", "From"),
    "f.period_to": ("Đến ngày", "To"),
    "f.search": ("Tìm theo tên, số quyết định", "Search names, decision numbers"),
    "f.sort": ("Sắp xếp", "Sort"),
    "f.all": ("— Tất cả —", "— All —"),
    "f.reason": ("Lý do", "Reason"),
    "f.until": ("Hạn mới", "New deadline"),
    "f.on": ("Ngày", "Date"),
    "f.note": ("Ghi chú", "Note"),
    "f.file": ("Tệp báo cáo có chữ ký", "Signed report file"),
    "f.yes": ("Có", "Yes"),
    "f.no": ("Không", "No"),
    "f.days": ("ngày", "days"),
    # values
    "workflow.trip": ("Chuyến đi nước ngoài", "Outbound trip"),
    "workflow.ngo_project": ("Dự án viện trợ PCPNN", "Foreign-NGO aid project"),
    "workflow.ngo_report": ("Báo cáo dự án PCPNN", "NGO project report"),
    "workflow.agreement": ("Thỏa thuận quốc tế", "International agreement"),
    "workflow.agreement_review": ("Tổng kết thỏa thuận quốc tế", "Agreement review"),
    "workflow.trip_passport": ("Nộp lại hộ chiếu", "Passport return"),
    "state.approved": ("Đã duyệt", "Approved"),
    "state.travelling": ("Đang đi", "Travelling"),
    "state.returned": ("Đã về", "Returned"),
    "state.report_due": ("Chờ báo cáo", "Report due"),
    "state.report_filed": ("Đã nộp báo cáo", "Report filed"),
    "state.overdue": ("Quá hạn", "Overdue"),
    "state.escalated": ("Đã kiến nghị xử lý", "Escalated"),
    "state.closed": ("Hoàn thành", "Closed"),
    "state.cancelled": ("Đã hủy", "Cancelled"),
    "state.implementing": ("Đang thực hiện", "Implementing"),
    "state.suspended": ("Tạm dừng", "Suspended"),
    "state.active": ("Đang hiệu lực", "Active"),
    "state.review_due": ("Chờ rà soát", "Review due"),
    "state.due": ("Chờ báo cáo", "Report due"),
    "state.filed": ("Đã nộp báo cáo", "Report filed"),
    "state.completed": ("Đã kết thúc", "Completed"),
    "state.final_report_due": ("Chờ báo cáo kết thúc", "Final report due"),
    "state.final_report_filed": ("Đã nộp báo cáo kết thúc", "Final report filed"),
    "state.in_force": ("Đang hiệu lực", "In force"),
    "state.expiring": ("Sắp hết hiệu lực", "Expiring"),
    "state.terminated": ("Đã chấm dứt", "Terminated"),
    "state.expired": ("Hết hiệu lực", "Expired"),
    "event.create": ("Tạo hồ sơ", "Created"),
    "event.created": ("Tạo hồ sơ", "Created"),
    "event.depart": ("Xuất cảnh", "Departed"),
    "event.return": ("Nhập cảnh về nước", "Returned"),
    "event.open_report": ("Bắt đầu tính hạn báo cáo", "Report deadline opened"),
    "event.file": ("Ghi nhận đã nộp báo cáo", "Record report filed"),
    "event.accept": ("Chấp nhận báo cáo", "Accept report"),
    "event.reject": ("Trả lại báo cáo chưa đạt", "Send report back"),
    "event.deadline_passed": ("Quá hạn nộp báo cáo", "Deadline passed"),
    "event.escalate": ("Kiến nghị xử lý", "Escalated"),
    "event.extend": ("Gia hạn", "Extend deadline"),
    "event.cancel": ("Hủy", "Cancel"),
    "event.suspend": ("Tạm dừng", "Suspend"),
    "event.resume": ("Tiếp tục", "Resume"),
    "event.request_extension": ("Đề nghị gia hạn", "Request an extension"),
    "event.grant_extension": ("Đồng ý gia hạn", "Grant the extension"),
    "event.refuse_extension": ("Không đồng ý gia hạn", "Refuse the extension"),
    "kind.extension_requested": ("Đề nghị gia hạn", "Extension requested"),
    "kind.extension_granted": ("Đồng ý gia hạn", "Extension granted"),
    "kind.extension_refused": ("Không đồng ý gia hạn", "Extension refused"),
    "kind.passport_reminder": ("Nhắc nộp lại hộ chiếu", "Passport reminder"),
    "kind.passport_rejected": ("Nộp lại hộ chiếu chưa hoàn tất", "Passport return incomplete"),
    "kind.passport_urging": ("Đôn đốc nộp lại hộ chiếu", "Passport urging"),
    "kind.passport_escalation": ("Đề xuất xử lý chậm nộp hộ chiếu", "Passport escalation"),
    "extension.title": ("Đề nghị gia hạn", "Ask for more time"),
    "extension.intro": (
        "Nếu không thể hoàn thành đúng hạn, đơn vị nêu lý do và ngày đề nghị gia hạn."
        " Trong khi chờ xem xét, thời hạn hiện tại vẫn được tính.",
        "If the unit cannot make the deadline, give the reason and the date proposed."
        " The current deadline keeps running until the request is answered.",
    ),
    "extension.until": ("Gia hạn đến ngày", "Until"),
    "extension.submit": ("Gửi đề nghị gia hạn", "Send the request"),
    "extension.sent": (
        "Đã gửi đề nghị gia hạn. Bộ phận theo dõi sẽ trả lời đơn vị.",
        "The request has been sent. The coordinators will answer.",
    ),
    "extension.needs_reason": ("Cần nêu lý do đề nghị gia hạn.", "Give a reason."),
    "extension.pending": (
        "Đề nghị gia hạn đến {until} đang chờ xem xét.",
        "A request for more time until {until} is waiting for an answer.",
    ),
    "extension.open": ("Đề nghị gia hạn đang chờ", "Open extension requests"),
    "extension.proposed": ("Đề nghị đến", "Proposed"),
    "suspension.days": ("Thời gian tạm dừng", "Time suspended"),
    "suspension.since": ("Tạm dừng từ {since}", "Suspended since {since}"),
    "f.passport": ("Loại hộ chiếu", "Passport"),
    "event.note": ("Ghi chú", "Note"),
    "event.start": ("Bắt đầu thực hiện", "Start"),
    "event.complete": ("Kết thúc dự án", "Complete"),
    "event.close": ("Đóng hồ sơ", "Close"),
    "event.renew": ("Gia hạn thỏa thuận", "Renew"),
    "event.terminate": ("Chấm dứt", "Terminate"),
    "event.expiring": ("Sắp hết hiệu lực", "Expiring"),
    "event.expire": ("Hết hiệu lực", "Expired"),
    "event.open_final_report": ("Mở báo cáo kết thúc", "Final report opened"),
    "event.obligation_filed": ("Đã nộp báo cáo kỳ", "Report filed"),
    "event.obligation_reopened": ("Báo cáo kỳ bị trả lại", "Report sent back"),
    "event.obligation_closed": ("Báo cáo kỳ hoàn thành", "Report closed"),
    "event.reminder": ("Nhắc hạn", "Reminder"),
    "event.notice_skipped": ("Không gửi thông báo", "Notice not sent"),
    "event.update": ("Cập nhật thông tin", "Details corrected"),
    "event.notice_approved": ("Duyệt gửi thông báo", "Notice approved"),
    "event.notice_held": ("Giữ lại thông báo", "Notice held"),
    "event.notice_resent": ("Gửi lại thông báo", "Notice sent again"),
    "event.notice_sent": ("Đã gửi thông báo", "Notice sent"),
    "event.notice_failed": ("Gửi thông báo lỗi", "Notice failed"),
    "event.escalate_next": ("Kiến nghị xử lý", "Escalated"),
    "event.deadline": ("Hạn nộp báo cáo", "Deadline"),
    "event.deadline_moved": ("Hạn thay đổi theo lịch", "Deadline moved by the calendar"),
    # case page
    "case.title": ("Hồ sơ", "Case"),
    "case.fields": ("Thông tin", "Details"),
    "case.explained": ("Cách tính hạn", "How the deadline was computed"),
    "case.timeline": ("Lịch sử xử lý", "Timeline"),
    "case.notices": ("Thông báo đã gửi", "Notices"),
    "case.actions": ("Xử lý", "Actions"),
    "case.no_actions": (
        "Không có thao tác nào ở trạng thái này.",
        "No action is possible in this state.",
    ),
    "case.report": ("Báo cáo đã nộp", "Filed report"),
    "case.attachments": ("Tệp đính kèm", "Attachments"),
    "case.done": ("Đã thực hiện: {what}.", "Done: {what}."),
    "case.actor": ("Người thực hiện", "By"),
    "case.when": ("Thời điểm", "When"),
    "case.what": ("Nội dung", "What"),
    "case.no_events": ("Chưa có sự kiện.", "No events yet."),
    "case.submit": ("Thực hiện", "Submit"),
    "case.kind": ("Loại", "Kind"),
    "case.status": ("Tình trạng", "Status"),
    "case.to": ("Gửi đến", "To"),
    # list
    "list.title": ("Danh sách hồ sơ", "Cases"),
    "list.filter": ("Lọc", "Filter"),
    "list.export_csv": ("Xuất CSV", "Export CSV"),
    "list.export_xlsx": ("Xuất Excel", "Export XLSX"),
    "list.next": ("Trang sau", "Next page"),
    "list.first": ("Trang đầu", "First page"),
    "list.empty": ("Không có hồ sơ nào phù hợp.", "No case matches."),
    "list.total": ("Tổng số: {n}", "Total: {n}"),
    "sort.deadline": ("Hạn nộp (hồ sơ có hạn)", "Deadline (cases that have one)"),
    "sort.name": ("Tên", "Name"),
    "sort.id": ("Mới nhất", "Newest"),
    # decision form
    "decision.title": ("Quyết định cử đi nước ngoài mới", "New travel decision"),
    "decision.travellers": ("Người được cử đi", "Travellers"),
    "decision.traveller": ("Người thứ {n}", "Traveller {n}"),
    "decision.save": ("Lưu quyết định", "Save decision"),
    "decision.saved": ("Đã tạo {n} hồ sơ.", "{n} cases created."),
    "decision.hint": (
        "Điền mỗi người một dòng; các dòng để trống tên sẽ được bỏ qua.",
        "One traveller per block; blocks without a name are skipped.",
    ),
    # import
    "import.title": ("Nhập dữ liệu từ tệp", "Import from a file"),
    "import.upload": ("Tải lên và kiểm tra", "Upload and check"),
    "import.confirm": ("Xác nhận nhập", "Confirm import"),
    "import.unavailable": (
        "Chức năng nhập chưa sẵn sàng trong bản cài đặt này.",
        "Import is not available in this installation.",
    ),
    "import.row": ("Dòng", "Row"),
    "import.column": ("Cột", "Column"),
    "import.value": ("Giá trị", "Value"),
    "import.action": ("Thao tác", "Action"),
    "import.changes": ("Thay đổi", "Changes"),
    "import.action.created": ("Tạo mới", "New"),
    "import.action.updated": ("Cập nhật", "Updated"),
    "import.action.unchanged": ("Không đổi", "Unchanged"),
    "import.kind.trips": ("Chuyến đi (đoàn ra)", "Trips"),
    "import.kind.units": ("Đơn vị", "Units"),
    "import.problems": ("Lỗi", "Problems"),
    "import.ok": ("Hợp lệ", "Valid"),
    "import.done": ("Đã nhập {n} hồ sơ.", "{n} cases imported."),
    "import.job.checking": ("Đang kiểm tra tệp", "Checking the file"),
    "import.job.importing": ("Đang nhập dữ liệu", "Importing"),
    "import.progress": ("Đã xử lý {done}/{total} dòng", "{done} of {total} rows done"),
    "import.reading": ("Đang đọc tệp…", "Reading the file…"),
    "import.wait": (
        "Trang tự cập nhật; có thể mở trang khác trong lúc chờ.",
        "This page updates itself; other pages keep working meanwhile.",
    ),
    "import.shown": (
        "Bảng dưới đây chỉ hiện {n} dòng đầu.",
        "The table below shows the first {n} rows only.",
    ),
    # notices
    "notices.title": ("Thông báo và công văn", "Notices and letters"),
    "notices.tomorrow": ("Sẽ gửi trong ngày làm việc tới", "Going out next working day"),
    "notices.preview": ("Xem trước", "Preview"),
    "notices.approve": ("Duyệt gửi", "Approve"),
    "notices.hold": ("Giữ lại", "Hold"),
    "notices.resend": ("Gửi lại", "Resend"),
    "notices.attempts": ("Số lần gửi", "Attempts"),
    "notices.error": ("Lỗi", "Error"),
    "notices.created": ("Tạo lúc", "Created"),
    "status.pending": ("Chờ gửi", "Pending"),
    "status.held": ("Chờ duyệt", "Held"),
    "status.sending": ("Đang gửi", "Sending"),
    "status.sent": ("Đã gửi", "Sent"),
    "status.failed": ("Lỗi", "Failed"),
    "status.parked": ("Không gửi được", "Parked"),
    "kind.approval_notice": ("Thông báo phê duyệt", "Approval notice"),
    "kind.reminder": ("Nhắc hạn báo cáo", "Reminder"),
    "kind.rejected": ("Trả lại báo cáo", "Report sent back"),
    "kind.urging_letter": ("Công văn đôn đốc", "Urging letter"),
    "kind.escalation": ("Công văn kiến nghị xử lý", "Escalation letter"),
    "kind.digest": ("Tổng hợp tuần", "Weekly digest"),
    # calendar
    "cal.title": ("Lịch làm việc năm {year}", "Working calendar {year}"),
    "cal.holiday": ("Nghỉ lễ", "Public holiday"),
    "cal.closure": ("Nghỉ bổ sung", "Closure"),
    "cal.working": ("Làm bù", "Make-up working day"),
    "cal.weekend": ("Cuối tuần", "Weekend"),
    "cal.add": ("Thêm ngày", "Add a day"),
    "cal.kind": ("Loại ngày", "Kind of day"),
    "cal.source": ("Căn cứ", "Source"),
    "cal.moved": ("Các hạn đã thay đổi", "Deadlines that moved"),
    "cal.none_moved": ("Không có hạn nào thay đổi.", "No deadline moved."),
    "cal.old": ("Hạn cũ", "Old deadline"),
    "cal.new": ("Hạn mới", "New deadline"),
    "cal.remove": ("Xóa", "Remove"),
    "cal.overlay": ("Ngày điều chỉnh", "Adjusted days"),
    "cal.provisional": (
        "Tạm tính: chưa có quyết định hoán đổi ngày làm việc chính thức cho năm {year}; "
        "các hạn trong năm có thể thay đổi khi có quyết định.",
        "Provisional: no official decision on swapped working days is known for {year}; "
        "deadlines in that year may move when it is decided.",
    ),
    "cal.confirmed": (
        "Đã có quyết định hoán đổi ngày làm việc năm {year}.",
        "The swapped working days of {year} are known.",
    ),
    "cal.makeup": ("Làm bù (theo quyết định hoán đổi)", "Make-up Saturday (swap decision)"),
    # users and units
    "users.title": ("Người dùng", "Users"),
    "users.add": ("Thêm người dùng", "Add user"),
    "users.role": ("Vai trò", "Role"),
    "users.active": ("Đang hoạt động", "Active"),
    "users.deactivate": ("Khóa", "Deactivate"),
    "users.activate": ("Mở khóa", "Activate"),
    "users.password_set": ("Mật khẩu ban đầu", "Initial password"),
    "units.title": ("Đơn vị", "Units"),
    "doctor.title": ("Kiểm tra cài đặt", "Installation check"),
    "doctor.check": ("Mục", "Check"),
    "doctor.level": ("Mức", "Level"),
    "doctor.message": ("Tình trạng", "State"),
    "doctor.fix": ("Cách sửa", "Fix"),
    "doctor.ok": ("Ổn", "OK"),
    "doctor.warning": ("Cảnh báo", "Warning"),
    "doctor.error": ("Lỗi", "Error"),
    "units.add": ("Thêm / sửa đơn vị", "Add / edit unit"),
    "units.code": ("Mã đơn vị", "Unit code"),
    "units.name": ("Tên đơn vị", "Unit name"),
    "units.email": ("Thư điện tử đơn vị", "Unit e-mail"),
    "units.head_email": ("Thư điện tử thủ trưởng", "Head's e-mail"),
    "saved": ("Đã lưu.", "Saved."),
    # unit pages and report submission
    "unit.title": ("Hồ sơ của đơn vị", "Our cases"),
    "unit.submit": ("Nộp báo cáo", "File the report"),
    "report.title": ("Nộp báo cáo sau chuyến đi", "File the post-trip report"),
    "report.intro": (
        "Báo cáo cần nêu đủ các mục dưới đây (mỗi mục tối thiểu {min} ký tự) và kèm tệp "
        "báo cáo có chữ ký (PDF, DOCX, DOC hoặc ODT, tối đa {mb} MB).",
        "The report must cover each section below (at least {min} characters each) and "
        "carry the signed report file (PDF, DOCX, DOC or ODT, at most {mb} MB).",
    ),
    "report.programme": ("Mục đích và chương trình chuyến đi", "Purpose and programme"),
    "report.results": ("Kết quả đạt được", "Results"),
    "report.commitments": (
        "Các cam kết với đối tác nước ngoài",
        "Commitments made to foreign partners",
    ),
    "report.recommendations": ("Đề xuất, kiến nghị", "Recommendations"),
    "report.cost": ("Kinh phí và nguồn kinh phí", "Cost and funding source"),
    "report.too_short": (
        "Mục «{section}» quá ngắn (tối thiểu {min} ký tự).",
        "Section “{section}” is too short (at least {min} characters).",
    ),
    "report.file_missing": ("Chưa đính kèm tệp báo cáo.", "The report file is missing."),
    "report.file_type": (
        "Tệp phải là PDF, DOCX, DOC hoặc ODT.",
        "The file must be PDF, DOCX, DOC or ODT.",
    ),
    "report.file_size": ("Tệp quá lớn (tối đa {mb} MB).", "The file is too large (max {mb} MB)."),
    "report.filed": ("Đã nộp báo cáo. Cảm ơn đơn vị.", "The report has been filed. Thank you."),
    "report.not_due": (
        "Hồ sơ này hiện không chờ báo cáo.",
        "This case is not waiting for a report.",
    ),
    # leadership
    "comp.title": ("Báo cáo tình hình thực hiện chế độ báo cáo", "Reporting compliance"),
    "comp.by_category": ("Tỷ lệ nộp báo cáo theo diện quản lý", "Reporting rate by category"),
    "comp.by_unit": ("Tỷ lệ nộp báo cáo theo đơn vị", "Reporting rate by unit"),
    "comp.by_month": ("Tỷ lệ nộp báo cáo theo tháng", "Reporting rate by month"),
    "comp.by": ("Tính theo", "Count by"),
    "comp.as_of": ("Số liệu tính đến ngày", "Figures as of"),
    "comp.period": ("Kỳ báo cáo", "Period"),
    "comp.summary": (
        "{decisions} quyết định, {cases} trường hợp; đã báo cáo {filed}/{due}",
        "{decisions} decisions, {cases} trips; reports filed {filed}/{due}",
    ),
    "comp.download": ("Tải bảng tính Excel", "Download XLSX"),
    "comp.due": ("Phải nộp", "Due"),
    "comp.filed": ("Đã nộp", "Filed"),
    "comp.on_time": ("Đúng hạn", "On time"),
    "comp.late": ("Muộn", "Late"),
    "comp.missing": ("Chưa nộp", "Missing"),
    "comp.rate": ("Tỷ lệ", "Rate"),
    "comp.group": ("Nhóm", "Group"),
    "comp.unavailable": (
        "Báo cáo tuân thủ chưa sẵn sàng trong bản cài đặt này.",
        "The compliance report is not available in this installation.",
    ),
    "esc.title": ("Các trường hợp kiến nghị xử lý", "Escalations"),
    "esc.history": ("Lịch sử", "History"),
    # mail
    "mail.title": ("Thư đã gửi tới hộp thư thử", "Messages caught by the mail catcher"),
    "mail.empty": ("Chưa có thư nào.", "No message yet."),
    "mail.from": ("Người gửi", "From"),
    "mail.to": ("Người nhận", "To"),
    "mail.subject": ("Tiêu đề", "Subject"),
    "mail.date": ("Ngày", "Date"),
    "mail.attachments": ("Tệp đính kèm", "Attachments"),
    "mail.unavailable": ("Hộp thư thử chưa được cấu hình.", "The mail catcher is not configured."),
    # api tokens
    "token.title": ("Mã truy cập API", "API token"),
    "token.new": ("Tạo mã mới", "New token"),
    "token.once": (
        "Mã này chỉ hiện một lần. Hãy lưu lại ngay.",
        "This token is shown only once. Save it now.",
    ),
}

# field name → its vocabulary, from every case type (the same object where shared)
VOCABULARIES: dict[str, Vocabulary] = {
    name: vocabulary for wf in catalog.definitions() for name, vocabulary in wf.vocabularies.items()
}


def normalise(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT


def gettext(key: str, lang: str = DEFAULT, **values: object) -> str:
    """The message ``key`` in ``lang``, with ``{name}`` placeholders filled."""
    pair = MESSAGES.get(key)
    text = key if pair is None else pair[LANGUAGES.index(normalise(lang))]
    return text.format(**values) if values else text


def label(prefix: str, value: str | None, lang: str = DEFAULT) -> str:
    """A translated value label (``state.overdue``) or the raw value when unknown.
    A field a case type declares a vocabulary for (issuer, category, purpose) takes
    its labels from the vocabulary, not from this catalogue."""
    if value is None:
        return ""
    vocabulary = VOCABULARIES.get(prefix)
    if vocabulary is not None:
        return vocabulary.label(value, normalise(lang))
    key = f"{prefix}.{value}"
    return gettext(key, lang) if key in MESSAGES else value


def short_date(day: date | None) -> str:
    """``23/11/2021``."""
    return day.strftime("%d/%m/%Y") if day else ""


def long_date(day: date | None, lang: str = DEFAULT) -> str:
    """``ngày 23 tháng 11 năm 2021`` / ``23 November 2021``."""
    if day is None:
        return ""
    if normalise(lang) == "en":
        return dates.long_date(day, "en")
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)  # Decree 30/2020 style
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def local_datetime(instant: datetime | None, tz: ZoneInfo) -> str:
    """A stored naive-UTC instant as local ``23/11/2021 14:05``."""
    if instant is None:
        return ""
    return clock.to_local(instant, tz).strftime("%d/%m/%Y %H:%M")
