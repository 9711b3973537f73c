using Relay.Configuration;

namespace Relay.Tests.Configuration;

public sealed class RelayOptionsValidatorTests
{
    /// <summary>Every rule: the setting it names and a value it must refuse.</summary>
    private static readonly (string Setting, Action<RelayOptions> Break)[] Rules =
    [
        ("Relay:MaxIdLength", o => o.MaxIdLength = 0),
        ("Relay:IdPattern", o => o.IdPattern = "("),
        ("Relay:KeepAliveInterval", o => o.KeepAliveInterval = TimeSpan.FromSeconds(-1)),
        ("Relay:KeepAliveTimeout", o => o.KeepAliveTimeout = TimeSpan.FromSeconds(-1)),
        ("Relay:CloseTimeout", o => o.CloseTimeout = TimeSpan.Zero),
        ("Relay:DrainTimeout", o => o.DrainTimeout = TimeSpan.FromSeconds(-1)),
        ("Relay:Introduction:MaxMessageBytes", o => o.Introduction.MaxMessageBytes = 63),
        ("Relay:Introduction:MaxDocumentsPerMessage", o => o.Introduction.MaxDocumentsPerMessage = 0),
        ("Relay:Introduction:MaxDocumentsPerPeer", o => o.Introduction.MaxDocumentsPerPeer = 0),
        ("Relay:Introduction:MaxPeersPerDocument", o => o.Introduction.MaxPeersPerDocument = -1),
        ("Relay:Introduction:MaxQueuedBytes", o => o.Introduction.MaxQueuedBytes = 1023),
        ("Relay:Introduction:IdleTimeout", o => o.Introduction.IdleTimeout = TimeSpan.FromSeconds(-1)),
        ("Relay:Connection:PendingTimeout", o => o.Connection.PendingTimeout = TimeSpan.FromSeconds(-1)),
        ("Relay:Connection:MaxHeldBytes", o => o.Connection.MaxHeldBytes = -1),
        ("Relay:Connection:MaxHeldFrames", o => o.Connection.MaxHeldFrames = -1),
        ("Relay:Connection:BufferSize", o => o.Connection.BufferSize = 255),
        ("Relay:Connection:MaxMessageBytes", o => o.Connection.MaxMessageBytes = -1),
        ("Relay:Connection:MaxBytesPerPairing", o => o.Connection.MaxBytesPerPairing = -1),
        ("Relay:Connection:MaxPairingDuration", o => o.Connection.MaxPairingDuration = TimeSpan.FromSeconds(-1)),
        ("Relay:Connection:StallTimeout", o => o.Connection.StallTimeout = TimeSpan.FromSeconds(-1)),
        ("Relay:Identity:PeerIdClaim", o => o.Identity.PeerIdClaim = " "),
        ("Relay:Identity:DocumentsClaim", o => o.Identity.DocumentsClaim = ""),
        ("Relay:Identity:DocumentPolicy", o => o.Identity.DocumentPolicy = ""),
        ("Relay:AllowedOrigins:1", o => o.AllowedOrigins = ["https://app.example.com", "https://app.example.com/path"]),
        ("Relay:Rooms:MaxPacketBytes", o => o.Rooms.MaxPacketBytes = 255),
        ("Relay:Rooms:MaxUsersPerRoom", o => o.Rooms.MaxUsersPerRoom = 0),
        ("Relay:Rooms:MaxRooms", o => o.Rooms.MaxRooms = 0),
        ("Relay:Rooms:MaxQueuedBytes", o => o.Rooms.MaxQueuedBytes = 1023),
        ("Relay:Rooms:HeartbeatInterval", o => o.Rooms.HeartbeatInterval = TimeSpan.FromSeconds(-1)),
        ("Relay:Targeted:MaxRegistrations", o => o.Targeted.MaxRegistrations = 0),
        ("Relay:Targeted:MaxMessageBytes", o => o.Targeted.MaxMessageBytes = 63),
        ("Relay:Targeted:MaxQueuedBytes", o => o.Targeted.MaxQueuedBytes = 1023),
        ("Relay:Targeted:AdminKey", o => o.Targeted.AdminKey = "too-short"),
        ("Relay:Sigver:MaxMessageBytes", o => o.Sigver.MaxMessageBytes = 15),
        ("Relay:Sigver:MaxJoinersPerMember", o => o.Sigver.MaxJoinersPerMember = 0),
        ("Relay:Sigver:MaxMembersPerGroup", o => o.Sigver.MaxMembersPerGroup = 0),
        ("Relay:Sigver:MaxGroups", o => o.Sigver.MaxGroups = -1),
        ("Relay:Sigver:MaxQueuedBytes", o => o.Sigver.MaxQueuedBytes = 1023),
        ("Relay:Sigver:HeartbeatInterval", o => o.Sigver.HeartbeatInterval = TimeSpan.Zero),
        ("Relay:Cluster:Redis", o => o.Cluster.Redis = "127.0.0.1:6379,nosuchoption=1"),
        ("Relay:Cluster:InternalUrl", o => o.Cluster.InternalUrl = "10.0.0.5:8081"),
        ("Relay:Cluster:LeaseInterval", o => o.Cluster.LeaseInterval = TimeSpan.FromMilliseconds(49)),
        ("Relay:Cluster:NodeTimeout", o => o.Cluster.NodeTimeout = TimeSpan.Zero),
        ("Relay:Cluster:KeyPrefix", o => o.Cluster.KeyPrefix = "my relay:"),
        ("Relay:Cluster:Secret", o => o.Cluster.Secret = new string('s', 31)),
        ("Relay:Cluster:ForwardConnectTimeout", o => o.Cluster.ForwardConnectTimeout = TimeSpan.Zero),
    ];

    [Theory]
    [InlineData("https://app.example.com", true)]
    [InlineData("http://localhost:5173/", true)]
    [InlineData("https://app.example.com/path", false)]
    [InlineData("https://app.example.com?x=1", false)]
    [InlineData("https://user@app.example.com", false)]
    [InlineData("app.example.com", false)]
    [InlineData("ftp://app.example.com", false)]
    [InlineData("", false)]
    public void AllowedOrigins_AcceptOnlyOrigins(string value, bool valid) =>
        Assert.Equal(valid, Relay.Identity.RelayOrigins.IsOrigin(value));

    public static TheoryData<int> RuleIndexes() => [.. Enumerable.Range(0, Rules.Length)];

    [Fact]
    public void Validate_Defaults_Succeed() =>
        Assert.True(new RelayOptionsValidator().Validate(null, new RelayOptions()).Succeeded);

    [Theory]
    [MemberData(nameof(RuleIndexes))]
    public void Validate_EachRuleBroken_FailsNamingOnlyThatSetting(int rule)
    {
        var (setting, breakRule) = Rules[rule];
        var options = new RelayOptions();
        breakRule(options);

        var result = new RelayOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failure = Assert.Single(result.Failures!);
        Assert.StartsWith(setting + " ", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_EveryRuleBroken_ReportsEveryFailureAtOnce()
    {
        var options = new RelayOptions();
        foreach (var (_, breakRule) in Rules)
        {
            breakRule(options);
        }

        var result = new RelayOptionsValidator().Validate(null, options);

        var failures = result.Failures!.ToList();
        Assert.Equal(Rules.Length, failures.Count);
        foreach (var (setting, _) in Rules)
        {
            Assert.Single(failures, f => f.StartsWith(setting + " ", StringComparison.Ordinal));
        }

    }

    [Fact]
    public void Validate_EveryBoundaryValue_Succeeds()
    {
        var options = new RelayOptions
        {
            MaxIdLength = 1,
            IdPattern = "[a-z]+",
            KeepAliveInterval = TimeSpan.Zero,
            KeepAliveTimeout = TimeSpan.Zero,
            CloseTimeout = TimeSpan.FromTicks(1),
            DrainTimeout = TimeSpan.Zero,
            Introduction = new RelayIntroductionOptions
            {
                MaxMessageBytes = 64,
                MaxDocumentsPerMessage = 1,
                MaxDocumentsPerPeer = 1,
                MaxPeersPerDocument = 0,
                MaxQueuedBytes = 1024,
                IdleTimeout = TimeSpan.Zero,
            },
            Connection = new RelayConnectionOptions
            {
                PendingTimeout = TimeSpan.Zero,
                MaxHeldBytes = 0,
                MaxHeldFrames = 0,
                BufferSize = 256,
                MaxMessageBytes = 0,
                MaxBytesPerPairing = 0,
                MaxPairingDuration = TimeSpan.Zero,
                StallTimeout = TimeSpan.Zero,
            },
        };

        Assert.True(new RelayOptionsValidator().Validate(null, options).Succeeded);

        options.Connection.BufferSize = 16 * 1024 * 1024;
        Assert.True(new RelayOptionsValidator().Validate(null, options).Succeeded);

        options.Connection.BufferSize = (16 * 1024 * 1024) + 1;
        Assert.Contains("Relay:Connection:BufferSize", Assert.Single(new RelayOptionsValidator().Validate(null, options).Failures!), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(@"(a)\1")] // NonBacktracking refuses backreferences
    [InlineData("(?=a)a")] // and lookarounds
    [InlineData("[z-a]")]
    [InlineData("x)|(.*")] // would escape the anchors
    public void Validate_UnusableIdPattern_IsReported(string pattern)
    {
        var result = new RelayOptionsValidator().Validate(null, new RelayOptions { IdPattern = pattern });

        Assert.StartsWith("Relay:IdPattern ", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Validate_BlankRedis_IsReported(string redis) =>
        Assert.StartsWith("Relay:Cluster:Redis ", Assert.Single(new RelayOptionsValidator().Validate(null, new RelayOptions { Cluster = { Redis = redis } }).Failures!), StringComparison.Ordinal);

    [Fact]
    public void Validate_ClusterBoundaryValues_Succeed() =>
        Assert.True(new RelayOptionsValidator().Validate(null, new RelayOptions
        {
            Cluster = new RelayClusterOptions
            {
                Redis = "redis-1:6379,redis-2:6379,password=secret,ssl=true",
                InternalUrl = "https://10.0.0.5:8443/",
                LeaseInterval = TimeSpan.FromMilliseconds(50),
                NodeTimeout = TimeSpan.FromMilliseconds(100),
                KeyPrefix = "x",
                Secret = new string('s', 32),
                ForwardConnectTimeout = TimeSpan.FromMilliseconds(1),
            },
        }).Succeeded);

    [Fact]
    public void Validate_EmptyIdPattern_MeansNoPattern() =>
        Assert.True(new RelayOptionsValidator().Validate(null, new RelayOptions { IdPattern = "" }).Succeeded);
}
