"""Login, logout and the home page; the customer pages live in `customers`."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from clientbook.web.selectors import home_overview, recent_interactions


@login_required
def home(request):
    return render(
        request,
        "web/home.html",
        {
            "overview": home_overview(user=request.user),
            "interactions": recent_interactions(user=request.user),
        },
    )


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """GET asks for confirmation; POST logs out (Django refuses GET logouts)."""

    http_method_names = ["get", "post", "options"]
    template_name = "web/logout.html"

    def get(self, request, *args, **kwargs):
        return render(request, self.template_name)

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, _("You have been logged out."))
        return response
