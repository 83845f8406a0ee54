from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect


@login_required
def home(request):
    return redirect("admin:index")


class LoginView(auth_views.LoginView):
    template_name = "admin/login.html"


class LogoutView(auth_views.LogoutView):
    pass
