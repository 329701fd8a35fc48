"""Administrators manage the people who log in: add, disable, enable, change role, reset.

The same operations as ``sohoa users``; each is audited with the administrator as
the actor. An administrator cannot disable or demote their own account here, so
the last one cannot lock everybody out by a slip (``sohoa users`` still can).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pipeline.access.users import USER_ROLES, UserStore, normalize_name
from pipeline.errors import NotFound, UsageError
from workers.web.auth import SECURITY_HEADERS, current_user
from workers.web.context import ADMIN, WebContext, form, page

MESSAGES = {
    "add": "Đã thêm người dùng.",
    "disable": "Đã khóa tài khoản; các phiên đăng nhập của người đó đã kết thúc.",
    "enable": "Đã mở khóa tài khoản.",
    "role": "Đã đổi vai trò; người đó cần đăng nhập lại.",
    "passwd": "Đã đặt mật khẩu mới; các phiên đăng nhập của người đó đã kết thúc.",
}


def routes(ctx: WebContext) -> list[Route]:
    store: UserStore = ctx.users

    def _view(request: Request, status: int = 200, error: str | None = None) -> Response:
        message = MESSAGES.get(request.query_params.get("done", ""))
        view = {"users": store.list(), "roles": USER_ROLES, "message": message, "error": error}
        return ctx.render(request, "users.html", view, status)

    def users_page(request: Request) -> Response:
        ctx.record(request, "users_view")
        return _view(request)

    def _done(what: str) -> Response:
        return RedirectResponse(f"/users?done={what}", status_code=303, headers=SECURITY_HEADERS)

    def _target(request: Request) -> str:
        try:
            name = normalize_name(request.path_params["name"])
        except UsageError:
            raise NotFound("user") from None
        if store.get(name) is None:
            raise NotFound(name)
        return name

    def _not_self(request: Request, name: str) -> None:
        me = current_user(request)
        if me is not None and me.name == name:
            raise UsageError("không thể tự khóa hoặc tự hạ quyền tài khoản của mình")

    def add(request: Request) -> Response:
        fields = form(request)
        name, role = fields.get("name", ""), fields.get("role", "")
        password = fields.get("password", "")
        try:
            if password != fields.get("password2", ""):
                raise UsageError("hai mật khẩu không giống nhau")
            if role not in USER_ROLES:
                raise UsageError("vai trò không hợp lệ")
            user = store.add(name, role, password)
        except UsageError as exc:
            ctx.deny(request, str(exc))
            return _view(request, 400, str(exc))
        ctx.record(request, "user_add", user.name, role=user.role)
        return _done("add")

    def disable(request: Request) -> Response:
        name = _target(request)
        _not_self(request, name)
        store.disable(name)
        ctx.record(request, "user_disable", name)
        return _done("disable")

    def enable(request: Request) -> Response:
        name = _target(request)
        store.enable(name)
        ctx.record(request, "user_enable", name)
        return _done("enable")

    def set_role(request: Request) -> Response:
        name = _target(request)
        role = form(request).get("role", "")
        if role not in USER_ROLES:
            ctx.deny(request, "vai trò không hợp lệ")
            return _view(request, 400, "vai trò không hợp lệ")
        _not_self(request, name)
        store.set_role(name, role)
        ctx.record(request, "user_role", name, role=role)
        return _done("role")

    def passwd(request: Request) -> Response:
        name = _target(request)
        fields = form(request)
        password = fields.get("password", "")
        try:
            if password != fields.get("password2", ""):
                raise UsageError("hai mật khẩu không giống nhau")
            store.passwd(name, password)
        except UsageError as exc:
            ctx.deny(request, str(exc))
            return _view(request, 400, str(exc))
        ctx.record(request, "user_passwd", name)
        return _done("passwd")

    post = ("POST",)
    return [
        page(ctx, "/users", users_page, role=ADMIN),
        page(ctx, "/users", add, role=ADMIN, methods=post),
        page(ctx, "/users/{name}/disable", disable, role=ADMIN, methods=post),
        page(ctx, "/users/{name}/enable", enable, role=ADMIN, methods=post),
        page(ctx, "/users/{name}/role", set_role, role=ADMIN, methods=post),
        page(ctx, "/users/{name}/passwd", passwd, role=ADMIN, methods=post),
    ]
