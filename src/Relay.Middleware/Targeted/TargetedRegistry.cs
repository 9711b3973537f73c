using System.Buffers.Text;
using System.Security.Cryptography;

namespace Relay.Targeted;

/// <summary>The in-process <see cref="ITargetedRegistry"/>: two dictionaries under one lock.</summary>
internal sealed class TargetedRegistry(RelayOptions options) : ITargetedRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TargetedSession> _active = new(StringComparer.Ordinal);
    private readonly int _maxRegistrations = options.Targeted.MaxRegistrations;

    public int RegisteredCount
    {
        get
        {
            lock (_lock)
            {
                return _tokens.Count;
            }
        }
    }

    public int ActiveCount
    {
        get
        {
            lock (_lock)
            {
                return _active.Count;
            }
        }
    }

    public RegistrationResult Register(string username, out string? token)
    {
        token = null;
        lock (_lock)
        {
            if (_tokens.ContainsKey(username))
            {
                return RegistrationResult.Taken;
            }

            if (_tokens.Count >= _maxRegistrations)
            {
                return RegistrationResult.Full;
            }

            token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
            _tokens.Add(username, token);
            return RegistrationResult.Registered;
        }
    }

    /// <summary>Keeps a registration made elsewhere (a cluster's, in Redis), so this node knows it too; never refused.</summary>
    public void Adopt(string username, string token)
    {
        lock (_lock)
        {
            _tokens[username] = token;
        }
    }

    /// <summary>Every registration this node knows, for a cluster's resync.</summary>
    public List<(string Username, string Token)> Registrations()
    {
        lock (_lock)
        {
            return [.. _tokens.Select(static pair => (pair.Key, pair.Value))];
        }
    }

    public bool IsRegistered(string username, string token)
    {
        lock (_lock)
        {
            return _tokens.TryGetValue(username, out var expected) && string.Equals(expected, token, StringComparison.Ordinal);
        }
    }

    public ConnectResult Connect(TargetedSession session, string token)
    {
        lock (_lock)
        {
            if (!_tokens.TryGetValue(session.Username, out var expected) || !string.Equals(expected, token, StringComparison.Ordinal))
            {
                return ConnectResult.Unauthenticated;
            }

            return _active.TryAdd(session.Username, session) ? ConnectResult.Connected : ConnectResult.AlreadyExists;
        }
    }

    public void Disconnect(TargetedSession session)
    {
        lock (_lock)
        {
            if (_active.TryGetValue(session.Username, out var current) && ReferenceEquals(current, session))
            {
                _active.Remove(session.Username);
            }
        }
    }

    public TargetedSession? FindActive(string username)
    {
        lock (_lock)
        {
            return _active.GetValueOrDefault(username);
        }
    }

    public List<TargetedSession> RemoveAllActive()
    {
        lock (_lock)
        {
            var sessions = new List<TargetedSession>(_active.Values);
            _active.Clear();
            return sessions;
        }
    }
}
