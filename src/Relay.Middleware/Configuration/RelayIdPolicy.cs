using System.Text.RegularExpressions;

namespace Relay.Configuration;

/// <summary>Decides whether a peer or document id is acceptable, per <see cref="RelayOptions"/>.</summary>
internal sealed class RelayIdPolicy
{
    private readonly int _maxLength;
    private readonly Regex? _pattern;

    public RelayIdPolicy(RelayOptions options)
    {
        _maxLength = options.MaxIdLength;
        if (!string.IsNullOrEmpty(options.IdPattern))
        {
            _pattern = CreatePattern(options.IdPattern);
        }
    }

    /// <summary>
    /// Anchors the pattern and compiles it without backtracking, so matching costs time linear in the
    /// id whatever the pattern. Throws <see cref="ArgumentException"/> for an unusable pattern.
    /// </summary>
    public static Regex CreatePattern(string pattern)
    {
        const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;

        // Parsed alone first: an unbalanced pattern such as "x)|(.*" would otherwise close the anchoring
        // group early and leave a branch that matches any id.
        _ = new Regex(pattern, Options);
        return new($@"\A(?:{pattern})\z", Options);
    }

    public bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > _maxLength)
        {
            return false;
        }

        // A pattern narrows what is accepted; it never lets control characters or whitespace into ids
        // (and from there into logs and other peers' messages).
        return HasOnlyVisibleCharacters(id) && (_pattern is null || _pattern.IsMatch(id));
    }

    private static bool HasOnlyVisibleCharacters(string id)
    {
        for (var i = 0; i < id.Length; i++)
        {
            var c = id[i];
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return false;
            }

            if (char.IsHighSurrogate(c) && i + 1 < id.Length && char.IsLowSurrogate(id[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return false;
            }
        }

        return true;
    }
}
