using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Identity;

/// <summary>
/// An OpenID Connect provider's public face on loopback: the discovery document and the JWKS with its
/// RS256 signing key, served by real Kestrel, for the gateway's <c>Authority</c> setting.
/// </summary>
internal sealed class OidcTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OidcTestServer(WebApplication app, string authority)
    {
        _app = app;
        Authority = authority;
    }

    public string Authority { get; }

    public static async Task<(OidcTestServer Server, TestTokens Tokens)> StartAsync()
    {
        var key = TestTokens.NewRsaKey();
        var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(key);
        var authority = "";
        var (app, address) = await LoopbackApp.StartAsync(app =>
        {
            app.MapGet("/.well-known/openid-configuration", () => Results.Json(new JsonObject
            {
                ["issuer"] = authority,
                ["jwks_uri"] = authority + "/jwks",
                ["id_token_signing_alg_values_supported"] = new JsonArray("RS256"),
            }));
            app.MapGet("/jwks", () => Results.Json(new JsonObject
            {
                ["keys"] = new JsonArray(new JsonObject
                {
                    ["kty"] = "RSA",
                    ["use"] = "sig",
                    ["alg"] = "RS256",
                    ["kid"] = jwk.Kid,
                    ["n"] = jwk.N,
                    ["e"] = jwk.E,
                }),
            }));
        });
        authority = address;
        var tokens = TestTokens.Rs256(authority, key);
        return (new OidcTestServer(app, authority), tokens);
    }

    /// <summary>Gateway settings that discover this provider's keys.</summary>
    public Dictionary<string, string?> GatewaySettings() => new()
    {
        ["Authentication:Schemes:Bearer:Authority"] = Authority,
        ["Authentication:Schemes:Bearer:RequireHttpsMetadata"] = "false",
        ["Authentication:Schemes:Bearer:ValidIssuer"] = Authority,
        ["Authentication:Schemes:Bearer:ValidAudiences:0"] = TestTokens.Audience,
        ["Relay:Identity:PeerIdClaim"] = "sub",
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
