namespace Relay.Identity;

/// <summary>The browser origins allowed to open relay sockets (<see cref="RelayOptions.AllowedOrigins"/>).</summary>
internal sealed class RelayOrigins
{
    private readonly HashSet<string>? _allowed;

    public RelayOrigins(RelayOptions options)
    {
        if (options.AllowedOrigins.Length > 0)
        {
            _allowed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var origin in options.AllowedOrigins)
            {
                _allowed.Add(origin.TrimEnd('/'));
            }
        }
    }

    /// <summary>True for a request without an <c>Origin</c> header (not a browser), or from an allowed origin.</summary>
    public bool Allows(string? origin) => _allowed is null || string.IsNullOrEmpty(origin) || _allowed.Contains(origin);

    /// <summary>True for <c>scheme://host[:port]</c>, as browsers write the <c>Origin</c> header (a trailing slash is tolerated).</summary>
    public static bool IsOrigin(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
        && uri.Scheme is "http" or "https"
        && uri.AbsolutePath == "/"
        && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment) && string.IsNullOrEmpty(uri.UserInfo);
}
