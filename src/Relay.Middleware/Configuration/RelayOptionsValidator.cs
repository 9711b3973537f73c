using Microsoft.Extensions.Options;
using Relay.Identity;

namespace Relay.Configuration;

/// <summary>Checks every relay option at start-up and reports all problems at once.</summary>
internal sealed class RelayOptionsValidator : IValidateOptions<RelayOptions>
{
    public ValidateOptionsResult Validate(string? name, RelayOptions options)
    {
        var errors = new List<string>();

        void Require(bool condition, string message)
        {
            if (!condition)
            {
                errors.Add(message);
            }
        }

        Require(options.MaxIdLength >= 1, $"Relay:MaxIdLength must be at least 1 (was {options.MaxIdLength}).");
        if (!string.IsNullOrEmpty(options.IdPattern))
        {
            try
            {
                RelayIdPolicy.CreatePattern(options.IdPattern);
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
            {
                errors.Add($"Relay:IdPattern is not a usable regular expression: {ex.Message}");
            }
        }

        Require(options.KeepAliveInterval >= TimeSpan.Zero, "Relay:KeepAliveInterval must not be negative.");
        Require(options.KeepAliveTimeout >= TimeSpan.Zero, "Relay:KeepAliveTimeout must not be negative.");
        Require(options.CloseTimeout > TimeSpan.Zero, "Relay:CloseTimeout must be positive.");
        Require(options.DrainTimeout >= TimeSpan.Zero, "Relay:DrainTimeout must not be negative.");

        var introduction = options.Introduction;
        Require(introduction.MaxMessageBytes >= 64, $"Relay:Introduction:MaxMessageBytes must be at least 64 (was {introduction.MaxMessageBytes}).");
        Require(introduction.MaxDocumentsPerMessage >= 1, $"Relay:Introduction:MaxDocumentsPerMessage must be at least 1 (was {introduction.MaxDocumentsPerMessage}).");
        Require(introduction.MaxDocumentsPerPeer >= 1, $"Relay:Introduction:MaxDocumentsPerPeer must be at least 1 (was {introduction.MaxDocumentsPerPeer}).");
        Require(introduction.MaxPeersPerDocument >= 0, $"Relay:Introduction:MaxPeersPerDocument must not be negative (0 means unlimited; was {introduction.MaxPeersPerDocument}).");
        Require(introduction.MaxQueuedBytes >= 1024, $"Relay:Introduction:MaxQueuedBytes must be at least 1024 (was {introduction.MaxQueuedBytes}).");
        Require(introduction.IdleTimeout >= TimeSpan.Zero, "Relay:Introduction:IdleTimeout must not be negative (zero switches it off).");

        var connection = options.Connection;
        Require(connection.PendingTimeout >= TimeSpan.Zero, "Relay:Connection:PendingTimeout must not be negative (zero waits forever).");
        Require(connection.MaxHeldBytes >= 0, $"Relay:Connection:MaxHeldBytes must not be negative (was {connection.MaxHeldBytes}).");
        Require(connection.MaxHeldFrames >= 0, $"Relay:Connection:MaxHeldFrames must not be negative (was {connection.MaxHeldFrames}).");
        Require(connection.BufferSize is >= 256 and <= 16 * 1024 * 1024, $"Relay:Connection:BufferSize must be between 256 and 16777216 (was {connection.BufferSize}).");
        Require(connection.MaxMessageBytes >= 0, $"Relay:Connection:MaxMessageBytes must not be negative (0 means unlimited; was {connection.MaxMessageBytes}).");
        Require(connection.MaxBytesPerPairing >= 0, $"Relay:Connection:MaxBytesPerPairing must not be negative (0 means unlimited; was {connection.MaxBytesPerPairing}).");
        Require(connection.MaxPairingDuration >= TimeSpan.Zero, "Relay:Connection:MaxPairingDuration must not be negative (zero means unlimited).");
        Require(connection.StallTimeout >= TimeSpan.Zero, "Relay:Connection:StallTimeout must not be negative (zero waits forever).");

        var targeted = options.Targeted;
        Require(targeted.MaxRegistrations >= 1, $"Relay:Targeted:MaxRegistrations must be at least 1 (was {targeted.MaxRegistrations}).");
        Require(targeted.MaxMessageBytes is >= 64 and <= 16 * 1024 * 1024, $"Relay:Targeted:MaxMessageBytes must be between 64 and 16777216 (was {targeted.MaxMessageBytes}).");
        Require(targeted.MaxQueuedBytes >= 1024, $"Relay:Targeted:MaxQueuedBytes must be at least 1024 (was {targeted.MaxQueuedBytes}).");
        Require(targeted.AdminKey is null || targeted.AdminKey.Length == 0 || targeted.AdminKey.Length >= 16,
            "Relay:Targeted:AdminKey must be at least 16 characters (or unset, which disables the admin route).");
        var sigver = options.Sigver;
        Require(sigver.MaxMessageBytes is >= 16 and <= 16 * 1024 * 1024, $"Relay:Sigver:MaxMessageBytes must be between 16 and 16777216 (was {sigver.MaxMessageBytes}).");
        Require(sigver.MaxJoinersPerMember >= 1, $"Relay:Sigver:MaxJoinersPerMember must be at least 1 (was {sigver.MaxJoinersPerMember}).");
        Require(sigver.MaxMembersPerGroup >= 1, $"Relay:Sigver:MaxMembersPerGroup must be at least 1 (was {sigver.MaxMembersPerGroup}).");
        Require(sigver.MaxGroups >= 0, $"Relay:Sigver:MaxGroups must not be negative (0 means unlimited; was {sigver.MaxGroups}).");
        Require(sigver.MaxQueuedBytes >= 1024, $"Relay:Sigver:MaxQueuedBytes must be at least 1024 (was {sigver.MaxQueuedBytes}).");
        Require(sigver.HeartbeatInterval >= TimeSpan.FromMilliseconds(10), "Relay:Sigver:HeartbeatInterval must be at least 10 ms.");

        var admission = options.Admission;
        Require(admission.MaxConcurrentSockets >= 0, $"Relay:Admission:MaxConcurrentSockets must not be negative (0 means unlimited; was {admission.MaxConcurrentSockets}).");
        Require(admission.MaxConcurrentSocketsPerClient >= 0, $"Relay:Admission:MaxConcurrentSocketsPerClient must not be negative (0 means unlimited; was {admission.MaxConcurrentSocketsPerClient}).");
        Require(admission.NewSocketsPerSecondPerClient >= 0, $"Relay:Admission:NewSocketsPerSecondPerClient must not be negative (0 means unlimited; was {admission.NewSocketsPerSecondPerClient}).");
        Require(admission.NewSocketsPerSecondPerClient == 0 || admission.NewSocketsBurstPerClient >= admission.NewSocketsPerSecondPerClient,
            $"Relay:Admission:NewSocketsBurstPerClient must be at least NewSocketsPerSecondPerClient (was {admission.NewSocketsBurstPerClient}).");

        var identity = options.Identity;
        Require(identity.PeerIdClaim is null || identity.PeerIdClaim.Trim().Length > 0, "Relay:Identity:PeerIdClaim must not be blank (leave it unset to switch peer binding off).");
        Require(identity.DocumentsClaim is null || identity.DocumentsClaim.Trim().Length > 0, "Relay:Identity:DocumentsClaim must not be blank (leave it unset to switch it off).");
        Require(identity.DocumentPolicy is null || identity.DocumentPolicy.Trim().Length > 0, "Relay:Identity:DocumentPolicy must not be blank (leave it unset for the default).");
        for (var i = 0; i < options.AllowedOrigins.Length; i++)
        {
            Require(RelayOrigins.IsOrigin(options.AllowedOrigins[i]),
                $"Relay:AllowedOrigins:{i} must be an origin such as https://app.example.com (scheme, host and optional port; no path), was '{options.AllowedOrigins[i]}'.");
        }
        var rooms = options.Rooms;
        Require(rooms.MaxPacketBytes >= 256, $"Relay:Rooms:MaxPacketBytes must be at least 256 (was {rooms.MaxPacketBytes}).");
        Require(rooms.MaxUsersPerRoom >= 1, $"Relay:Rooms:MaxUsersPerRoom must be at least 1 (was {rooms.MaxUsersPerRoom}).");
        Require(rooms.MaxRooms >= 1, $"Relay:Rooms:MaxRooms must be at least 1 (was {rooms.MaxRooms}).");
        Require(rooms.MaxQueuedBytes >= 1024, $"Relay:Rooms:MaxQueuedBytes must be at least 1024 (was {rooms.MaxQueuedBytes}).");
        Require(rooms.HeartbeatInterval >= TimeSpan.Zero, "Relay:Rooms:HeartbeatInterval must not be negative (zero turns heartbeats off).");

        var cluster = options.Cluster;
        if (cluster.Redis is not null && cluster.Redis.Trim().Length == 0)
        {
            errors.Add("Relay:Cluster:Redis must not be blank (leave it unset for a single node).");
        }
        else if (cluster.Redis is not null)
        {
            try
            {
                StackExchange.Redis.ConfigurationOptions.Parse(cluster.Redis);
            }
            catch (ArgumentException ex)
            {
                errors.Add($"Relay:Cluster:Redis is not a StackExchange.Redis configuration string: {ex.Message}");
            }
        }

        Require(cluster.InternalUrl is null || (Uri.TryCreate(cluster.InternalUrl, UriKind.Absolute, out var internalUrl) && internalUrl.Scheme is "http" or "https"),
            $"Relay:Cluster:InternalUrl must be an absolute http or https URL (was '{cluster.InternalUrl}').");
        Require(cluster.LeaseInterval >= TimeSpan.FromMilliseconds(50), "Relay:Cluster:LeaseInterval must be at least 50 ms.");
        Require(cluster.NodeTimeout >= 2 * cluster.LeaseInterval, "Relay:Cluster:NodeTimeout must be at least twice Relay:Cluster:LeaseInterval.");
        Require(cluster.Secret is null || cluster.Secret.Length >= 32, "Relay:Cluster:Secret must be at least 32 characters (leave it unset to keep one in Redis).");
        Require(cluster.ForwardConnectTimeout > TimeSpan.Zero, "Relay:Cluster:ForwardConnectTimeout must be positive.");
        Require(cluster.KeyPrefix.Length > 0 && !cluster.KeyPrefix.Any(char.IsWhiteSpace), "Relay:Cluster:KeyPrefix must be non-empty, without whitespace.");

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
