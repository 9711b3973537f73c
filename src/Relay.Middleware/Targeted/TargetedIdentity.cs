using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;

namespace Relay.Targeted;

/// <summary>
/// Who a targeted-signaling request is. Register sets the original's bare <c>user_username</c> cookie (for
/// clients that read it) and a <c>user_session</c> cookie protected with ASP.NET Core Data Protection, which
/// names the user and the registration; only the latter is believed, so a hand-made <c>user_username</c>
/// identifies nobody.
/// </summary>
internal sealed class TargetedIdentity(IDataProtectionProvider dataProtection)
{
    /// <summary>The original's cookie: the bare username, readable by scripts, never trusted.</summary>
    public const string UsernameCookie = "user_username";

    /// <summary>The signed cookie: protected <c>{token}:{username}</c>, HTTP-only.</summary>
    public const string SessionCookie = "user_session";

    private const string Purpose = "Relay.Targeted.Session.v1";

    private readonly IDataProtector _protector = dataProtection.CreateProtector(Purpose);

    public void IssueCookies(HttpContext context, string username, string token)
    {
        var secure = context.Request.IsHttps;
        context.Response.Cookies.Append(UsernameCookie, username, new CookieOptions { Path = "/", Secure = secure });
        context.Response.Cookies.Append(SessionCookie, _protector.Protect(token + ":" + username), new CookieOptions
        {
            Path = "/",
            HttpOnly = true,
            Secure = secure,
            SameSite = SameSiteMode.Lax,
        });
    }

    /// <summary>Clears both cookies (the original sends <c>Clear-Site-Data</c>, which browsers honour only over HTTPS).</summary>
    public static void ClearCookies(HttpContext context)
    {
        context.Response.Headers["Clear-Site-Data"] = "\"cookies\"";
        context.Response.Cookies.Delete(UsernameCookie, new CookieOptions { Path = "/" });
        context.Response.Cookies.Delete(SessionCookie, new CookieOptions { Path = "/" });
    }

    /// <summary>The username and registration token the signed cookie carries, or false if it is absent or not ours.</summary>
    public bool TryRead(HttpRequest request, out string username, out string token)
    {
        username = token = "";
        if (!request.Cookies.TryGetValue(SessionCookie, out var cookie) || string.IsNullOrEmpty(cookie))
        {
            return false;
        }

        string payload;
        try
        {
            payload = _protector.Unprotect(cookie);
        }
        catch (CryptographicException)
        {
            return false;
        }

        var separator = payload.IndexOf(':', StringComparison.Ordinal);
        if (separator <= 0)
        {
            return false;
        }

        token = payload[..separator];
        username = payload[(separator + 1)..];
        return true;
    }
}
