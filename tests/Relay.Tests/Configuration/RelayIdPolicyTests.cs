using System.Text.RegularExpressions;
using Relay.Configuration;

namespace Relay.Tests.Configuration;

public sealed class RelayIdPolicyTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("peer-1")]
    [InlineData("doc_1.2~3:@!$&'()*+,;=")]
    [InlineData("%20")] // ids arrive decoded; a literal percent is just a character
    [InlineData("café")]
    [InlineData("文档")]
    [InlineData("😀")]
    [InlineData("a😀b😀")]
    [InlineData("\u200b")] // zero-width space is a format character, not white space
    public void IsValid_VisibleCharactersAndSurrogatePairs_AreAccepted(string id) =>
        Assert.True(Policy().IsValid(id));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void IsValid_NullOrEmpty_IsRefused(string? id) => Assert.False(Policy().IsValid(id));

    [Theory]
    [InlineData("\0")]
    [InlineData("a\u0001")]
    [InlineData("\u001fb")]
    [InlineData("a\u007f")]
    [InlineData("\u0085")]
    [InlineData("\u009f")]
    [InlineData("line\nbreak")]
    public void IsValid_ControlCharacters_AreRefused(string id) => Assert.False(Policy().IsValid(id));

    [Theory]
    [InlineData(" ")]
    [InlineData("a b")]
    [InlineData("a\tb")]
    [InlineData("a\u00a0")]
    [InlineData("\u2003a")]
    [InlineData("\u2028")]
    [InlineData("\u3000")]
    public void IsValid_WhiteSpace_IsRefused(string id) => Assert.False(Policy().IsValid(id));

    [Theory]
    [InlineData("d800")]
    [InlineData("dc00")]
    [InlineData("0061 d83d")]
    [InlineData("d83d 0061")]
    [InlineData("de00 d83d")] // a pair in the wrong order
    [InlineData("d83d d83d de00")] // a pair preceded by a lone high surrogate
    [InlineData("d83d de00 de00")] // a pair followed by a lone low surrogate
    public void IsValid_LoneSurrogates_AreRefused(string utf16)
    {
        // Given as UTF-16 code units: a lone surrogate in a string literal would not survive xunit's
        // serialisation of theory data, and would arrive as U+FFFD.
        var id = string.Concat(utf16.Split(' ').Select(unit => (char)Convert.ToUInt16(unit, 16)));

        Assert.False(Policy().IsValid(id));
    }

    [Fact]
    public void IsValid_AtMaxIdLength_IsAcceptedAndOneMoreIsNot()
    {
        var policy = Policy(maxIdLength: 5);

        Assert.True(policy.IsValid("abcde"));
        Assert.False(policy.IsValid("abcdef"));
    }

    [Fact]
    public void IsValid_SurrogatePair_CountsTwoTowardsTheLength()
    {
        // The limit is in UTF-16 characters, as documented.
        var policy = Policy(maxIdLength: 3);

        Assert.True(policy.IsValid("a😀"));
        Assert.False(policy.IsValid("a😀b"));
    }

    [Theory]
    [InlineData("abc-1", true)]
    [InlineData("a", true)]
    [InlineData("ABC", false)]
    [InlineData("abc!", false)]
    [InlineData("!abc", false)]
    [InlineData("ab c", false)]
    [InlineData("abc\n", false)] // "$" would allow a final newline; the anchor is \z
    public void IsValid_CustomPattern_MustMatchTheWholeId(string id, bool expected) =>
        Assert.Equal(expected, Policy(pattern: "[a-z0-9-]+").IsValid(id));

    [Theory]
    [InlineData("a", true)]
    [InlineData("b", true)]
    [InlineData("ab", false)]
    [InlineData("ba", false)]
    [InlineData("xb", false)]
    public void IsValid_CustomAlternation_IsAnchoredAsAWhole(string id, bool expected) =>
        Assert.Equal(expected, Policy(pattern: "a|b").IsValid(id));

    [Fact]
    public void IsValid_CustomPatternEndingInDollar_StillRefusesATrailingNewline() =>
        Assert.False(Policy(pattern: "[a-z]+$").IsValid("abc\n"));

    [Fact]
    public void IsValid_CustomPattern_NarrowsButNeverWidensTheDefaultRulesOrTheLength()
    {
        var policy = Policy(pattern: "[a-z \n]+", maxIdLength: 5);

        Assert.True(policy.IsValid("abc"));
        Assert.False(policy.IsValid("a b"));
        Assert.False(policy.IsValid("a\nb"));
        Assert.False(policy.IsValid("abcdef"));
        Assert.False(Policy(pattern: "[a-z]+").IsValid("ABC"));
    }

    [Fact]
    public void CreatePattern_UsesTheNonBacktrackingEngine()
    {
        var pattern = RelayIdPolicy.CreatePattern("(a+)+b");

        Assert.True(pattern.Options.HasFlag(RegexOptions.NonBacktracking));
        Assert.True(pattern.Options.HasFlag(RegexOptions.CultureInvariant));

        // Catastrophic for a backtracking engine; linear here.
        Assert.DoesNotMatch(pattern, new string('a', 5_000) + "!");
    }

    [Theory]
    [InlineData("(")]
    [InlineData("[a-z")]
    [InlineData("a\\")]
    public void CreatePattern_InvalidPattern_Throws(string pattern) =>
        Assert.ThrowsAny<ArgumentException>(() => RelayIdPolicy.CreatePattern(pattern));

    [Theory]
    [InlineData("x)|(.*")]
    [InlineData("x)|(?:.*")]
    [InlineData("[a-z]+)|(.+")]
    public void CreatePattern_PatternClosingTheAnchorGroup_Throws(string pattern)
    {
        // Wrapped as \A(?:x)|(.*)\z this would parse, and its second branch would match any id without
        // the start anchor; the pattern alone is unbalanced, and must be refused as such.
        Assert.ThrowsAny<ArgumentException>(() => RelayIdPolicy.CreatePattern(pattern));
    }

    [Fact]
    public void CreatePattern_Backreference_IsNotSupportedWithoutBacktracking() =>
        Assert.Throws<NotSupportedException>(() => RelayIdPolicy.CreatePattern(@"(a)\1"));

    private static RelayIdPolicy Policy(string? pattern = null, int maxIdLength = 256) =>
        new(new RelayOptions { IdPattern = pattern, MaxIdLength = maxIdLength });
}
