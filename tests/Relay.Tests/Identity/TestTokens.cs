using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Relay.Tests.Identity;

/// <summary>
/// Mints real JWTs as an identity provider would: HS256 with the key the gateway is configured with (as
/// <c>dotnet user-jwts</c> does), or RS256 with a key an OpenID discovery document publishes.
/// </summary>
internal sealed class TestTokens
{
    public const string Issuer = "relay-tests";
    public const string Audience = "relay";

    private readonly SigningCredentials _credentials;
    private readonly string _issuer;

    private TestTokens(SigningCredentials credentials, string issuer)
    {
        _credentials = credentials;
        _issuer = issuer;
    }

    public byte[]? SymmetricKey { get; private init; }

    public RsaSecurityKey? RsaKey { get; private init; }

    public static TestTokens Hs256(string issuer = Issuer)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        return new TestTokens(new SigningCredentials(new SymmetricSecurityKey(key), SecurityAlgorithms.HmacSha256), issuer) { SymmetricKey = key };
    }

    public static RsaSecurityKey NewRsaKey() => new(RSA.Create(2048)) { KeyId = Guid.NewGuid().ToString("N") };

    public static TestTokens Rs256(string issuer, RsaSecurityKey key)
    {
        return new TestTokens(new SigningCredentials(key, SecurityAlgorithms.RsaSha256), issuer) { RsaKey = key };
    }

    /// <summary>Gateway settings that validate this minter's HS256 tokens, the way <c>dotnet user-jwts</c> writes them.</summary>
    public Dictionary<string, string?> GatewaySettings(string? peerIdClaim = "sub") => new()
    {
        ["Authentication:Schemes:Bearer:ValidIssuer"] = _issuer,
        ["Authentication:Schemes:Bearer:ValidAudiences:0"] = Audience,
        ["Authentication:Schemes:Bearer:SigningKeys:0:Issuer"] = _issuer,
        ["Authentication:Schemes:Bearer:SigningKeys:0:Value"] = Convert.ToBase64String(SymmetricKey!),
        ["Relay:Identity:PeerIdClaim"] = peerIdClaim,
    };

    /// <summary>A token for <paramref name="subject"/>, valid now unless the arguments say otherwise.</summary>
    public string For(
        string subject,
        string[]? documents = null,
        string? audience = Audience,
        string? issuer = null,
        DateTime? notBefore = null,
        DateTime? expires = null)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = subject };
        if (documents is not null)
        {
            claims["docs"] = documents;
        }

        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? _issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = (notBefore ?? now).AddMinutes(-1),
            NotBefore = notBefore ?? now.AddMinutes(-1),
            Expires = expires ?? now.AddMinutes(10),
            SigningCredentials = _credentials,
        });
    }

    public static Action<System.Net.WebSockets.ClientWebSocketOptions> Bearer(string token) =>
        options => options.SetRequestHeader("Authorization", "Bearer " + token);

}
