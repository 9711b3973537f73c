using System.Buffers;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Relay.Admission;
using Relay.Cluster;
using Relay.Configuration;
using Relay.Lifetime;
using Relay.Protocol;
using Relay.Telemetry;

namespace Relay.Targeted;

/// <summary>
/// Serves the Go signal server's protocol, one route role per endpoint: register a username, check the
/// session, connect the signaling WebSocket (messages delivered to a named target), kick every connected
/// session (admin), and the health check.
/// </summary>
internal sealed partial class TargetedHandler(
    ITargetedRegistry registry,
    TargetedIdentity identity,
    RelaySessions sessions,
    RelaySocketAcceptor acceptor,
    RelayIdPolicy ids,
    RelayOptions options,
    RelayMetrics metrics,
    IServiceProvider services,
    ILogger<TargetedHandler> logger)
{
    // With Relay:Cluster:Redis, registrations and sessions are shared through Redis and messages cross nodes.
    private readonly ClusterTargeted? _cluster = options.Cluster.Redis is null ? null : services.GetRequiredService<ClusterTargeted>();

    /// <summary>Largest register body read; a username is at most <see cref="RelayOptions.MaxIdLength"/> characters.</summary>
    internal const int MaxRegisterBodyBytes = 16 * 1024;

    private const string Unauthenticated = "UNAUTHENTICATED";
    private const string AlreadyExists = "ALREADY_EXISTS";
    private const string Kicked = "KICKED";

    private readonly int _maxMessageBytes = options.Targeted.MaxMessageBytes;
    private readonly byte[]? _adminKeyHash = string.IsNullOrEmpty(options.Targeted.AdminKey)
        ? null
        : SHA256.HashData(Encoding.UTF8.GetBytes(options.Targeted.AdminKey));

    public Task HandleAsync(HttpContext context, RelayRole role) => role switch
    {
        RelayRole.TargetedRegister => RegisterAsync(context),
        RelayRole.TargetedUser => UserAsync(context),
        RelayRole.TargetedConnect => ConnectAsync(context),
        RelayRole.TargetedKick => KickAsync(context),
        RelayRole.TargetedHealth => HealthAsync(context),
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    // POST /v1/register {username}

    private async Task RegisterAsync(HttpContext context)
    {
        if (!await RequireMethodAsync(context, HttpMethods.Post).ConfigureAwait(false))
        {
            return;
        }

        if (!await acceptor.AuthenticateAsync(context).ConfigureAwait(false))
        {
            return;
        }

        var (username, problem, status) = await ReadUsernameAsync(context.Request).ConfigureAwait(false);
        if (problem is not null)
        {
            await RegisterRefusedAsync(context, status, "INVALID", problem, TargetedRegistrationResult.Invalid).ConfigureAwait(false);
            return;
        }

        // With identities bound, a user registers only its own name (403 otherwise).
        if (!await acceptor.AuthorizeAsync(context, username!).ConfigureAwait(false))
        {
            return;
        }

        string? token;
        RegistrationResult registered;
        if (_cluster is null)
        {
            registered = registry.Register(username!, out token);
        }
        else
        {
            (registered, token) = await _cluster.RegisterAsync(username!).ConfigureAwait(false);
        }

        switch (registered)
        {
            case RegistrationResult.Taken:
                await RegisterRefusedAsync(context, StatusCodes.Status200OK, "TAKEN", "", TargetedRegistrationResult.Taken).ConfigureAwait(false);
                return;
            case RegistrationResult.Full:
                await RegisterRefusedAsync(context, StatusCodes.Status503ServiceUnavailable, "FULL", "registration limit reached", TargetedRegistrationResult.Full).ConfigureAwait(false);
                return;
        }

        metrics.TargetedRegistration(TargetedRegistrationResult.Registered);
        Log.Registered(logger, username!);
        identity.IssueCookies(context, username!, token!);
        await WriteStatusAsync(context, StatusCodes.Status200OK, "SUCCESS", "").ConfigureAwait(false);
    }

    private Task RegisterRefusedAsync(HttpContext context, int statusCode, string status, string message, TargetedRegistrationResult result)
    {
        metrics.TargetedRegistration(result);
        Log.RegisterRefused(logger, statusCode, status, message);
        return WriteStatusAsync(context, statusCode, status, message);
    }

    /// <summary>
    /// Reads <c>{"username": "..."}</c> as Go's decoder would (any case of the name, unknown properties
    /// skipped, <c>null</c> is empty); the name must also pass the relay's id policy.
    /// </summary>
    private async Task<(string? Username, string? Problem, int Status)> ReadUsernameAsync(HttpRequest request)
    {
        if (request.ContentLength > MaxRegisterBodyBytes)
        {
            return (null, "body too large", StatusCodes.Status413PayloadTooLarge);
        }

        if (!IsJson(request.ContentType))
        {
            return (null, "invalid body", StatusCodes.Status400BadRequest);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(MaxRegisterBodyBytes + 1);
        try
        {
            var length = 0;
            int read;
            while (length <= MaxRegisterBodyBytes
                && (read = await request.Body.ReadAsync(buffer.AsMemory(length, MaxRegisterBodyBytes + 1 - length)).ConfigureAwait(false)) > 0)
            {
                length += read;
            }

            if (length > MaxRegisterBodyBytes)
            {
                return (null, "body too large", StatusCodes.Status413PayloadTooLarge);
            }

            if (!TryParseUsername(buffer.AsSpan(0, length), out var username))
            {
                return (null, "invalid body", StatusCodes.Status400BadRequest);
            }

            if (username.Length == 0)
            {
                return (null, "username cannot be empty", StatusCodes.Status400BadRequest);
            }

            return ids.IsValid(username)
                ? (username, null, StatusCodes.Status200OK)
                : (null, "invalid username", StatusCodes.Status400BadRequest);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    internal static bool TryParseUsername(ReadOnlySpan<byte> body, out string username)
    {
        username = "";
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read())
            {
                return false;
            }

            if (reader.TokenType == JsonTokenType.Null)
            {
                return !reader.Read();
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isUsername = string.Equals(reader.GetString(), "username", StringComparison.OrdinalIgnoreCase);
                if (!reader.Read())
                {
                    return false;
                }

                if (!isUsername)
                {
                    reader.Skip();
                }
                else if (reader.TokenType == JsonTokenType.String)
                {
                    username = reader.GetString()!;
                }
                else if (reader.TokenType != JsonTokenType.Null)
                {
                    return false;
                }
            }

            return reader.TokenType == JsonTokenType.EndObject && !reader.Read();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task WriteStatusAsync(HttpContext context, int statusCode, string status, string message)
    {
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = "application/json";
        var body = new ArrayBufferWriter<byte>(64);
        using (var writer = new Utf8JsonWriter(body))
        {
            writer.WriteStartObject();
            writer.WriteString("status"u8, status);
            writer.WriteString("message"u8, message);
            writer.WriteEndObject();
        }

        await context.Response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    // GET /v1/user

    private async Task UserAsync(HttpContext context)
    {
        if (!await RequireMethodAsync(context, HttpMethods.Get).ConfigureAwait(false))
        {
            return;
        }

        if (identity.TryRead(context.Request, out var username, out var token)
            && (registry.IsRegistered(username, token) || (_cluster is not null && await _cluster.IsRegisteredAsync(username, token).ConfigureAwait(false))))
        {
            await WriteTextAsync(context, StatusCodes.Status200OK, "OK").ConfigureAwait(false);
            return;
        }

        metrics.Rejected(RejectionReason.Unauthenticated);
        Log.UserUnknown(logger);
        TargetedIdentity.ClearCookies(context);
        await WriteTextAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized").ConfigureAwait(false);
    }

    // GET /healthcheck

    private static async Task HealthAsync(HttpContext context)
    {
        if (await RequireMethodAsync(context, HttpMethods.Get).ConfigureAwait(false))
        {
            await WriteTextAsync(context, StatusCodes.Status200OK, "success").ConfigureAwait(false);
        }
    }

    // GET /v1/kick-active-users (admin)

    private async Task KickAsync(HttpContext context)
    {
        if (_adminKeyHash is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!await RequireMethodAsync(context, HttpMethods.Get).ConfigureAwait(false))
        {
            return;
        }

        if (!IsAdmin(context.Request))
        {
            metrics.Rejected(RejectionReason.Unauthenticated);
            Log.AdminRefused(logger, context.Connection.RemoteIpAddress?.ToString());
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await WriteTextAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized").ConfigureAwait(false);
            return;
        }

        var kicked = registry.RemoveAllActive();
        foreach (var session in kicked)
        {
            session.Kick(Kicked);
        }

        if (_cluster is not null)
        {
            // Every other node kicks its own sessions when Redis tells it, before this answers.
            await _cluster.KickAsync().ConfigureAwait(false);
        }

        Log.Kicked(logger, kicked.Count);
        await WriteTextAsync(context, StatusCodes.Status200OK, "OK").ConfigureAwait(false);
    }

    /// <summary><c>Authorization: Bearer &lt;key&gt;</c> with the configured key, compared in fixed time (as hashes, so the length leaks nothing either).</summary>
    private bool IsAdmin(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _adminKeyHash);
    }

    private static async Task<bool> RequireMethodAsync(HttpContext context, string method)
    {
        if (HttpMethods.Equals(context.Request.Method, method) || (method == HttpMethods.Get && HttpMethods.IsHead(context.Request.Method)))
        {
            return true;
        }

        context.Response.Headers.Allow = method == HttpMethods.Get ? "GET, HEAD" : method;
        await WriteTextAsync(context, StatusCodes.Status405MethodNotAllowed, "Method Not Allowed").ConfigureAwait(false);
        return false;
    }

    private static Task WriteTextAsync(HttpContext context, int statusCode, string text)
    {
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text, context.RequestAborted);
    }

    // GET /v1/connect (WebSocket)

    private async Task ConnectAsync(HttpContext context)
    {
        if (!await acceptor.AdmitAsync(context).ConfigureAwait(false))
        {
            return;
        }

        // As the original: the socket is accepted first, then a session without a valid identity is closed with 4000.
        var authenticated = identity.TryRead(context.Request, out var username, out var token);

        // With identities bound, the session's registered name must be the authenticated user's (403 otherwise).
        if (authenticated && !await acceptor.AuthorizeAsync(context, username).ConfigureAwait(false))
        {
            return;
        }
        var socket = await acceptor.AcceptAsync(context).ConfigureAwait(false);
        var session = new TargetedSession(authenticated ? username : "", socket, sessions, options, metrics, logger);
        sessions.Add(session);
        var result = !authenticated ? ConnectResult.Unauthenticated
            : _cluster is null ? registry.Connect(session, token)
            : await _cluster.ConnectAsync(session, token).ConfigureAwait(false);
        switch (result)
        {
            case ConnectResult.Connected:
                Log.Connected(logger, username);
                break;
            case ConnectResult.Unauthenticated:
                session.CloseByRelay(RelayCloseCodes.TargetedSignaling, RejectionReason.Unauthenticated, TargetedCloseReason.Unauthenticated, Unauthenticated);
                break;
            case ConnectResult.AlreadyExists:
                session.CloseByRelay(RelayCloseCodes.TargetedSignaling, RejectionReason.AlreadyExists, TargetedCloseReason.AlreadyExists, AlreadyExists);
                break;
        }

        try
        {
            await ReceiveLoopAsync(session).ConfigureAwait(false);
        }
        catch (Exception ex) when (RelaySocket.IsFailure(ex))
        {
            Log.SocketFailed(logger, session.Username, ex);
            RelaySocket.AbortAfterReceiveFailure(socket);
        }
        finally
        {
            if (result == ConnectResult.Connected)
            {
                Forget(session);
            }

            // Answers the client's close frame (the original never did), or ends a dropped socket.
            session.RequestClose(socket.CloseStatus ?? WebSocketCloseStatus.Empty, socket.CloseStatusDescription, byRelay: false);
            await session.CloseSent.ConfigureAwait(false);
            sessions.Remove(session);
            metrics.TargetedClosed(session.CloseReason ?? (socket.CloseStatus is null ? TargetedCloseReason.Dropped : TargetedCloseReason.ClientClosed));
            if (result == ConnectResult.Connected)
            {
                Log.Disconnected(logger, session.Username, socket.CloseStatus);
            }

            socket.Dispose();
        }
    }

    private async Task ReceiveLoopAsync(TargetedSession session)
    {
        var socket = session.Socket;

        // Made at the first message, so a session that only connects costs nothing here.
        ArrayBufferWriter<byte>? scratch = null;
        Utf8JsonWriter? writer = null;
        try
        {
            while (true)
            {
                using var message = await PooledMessage.ReceiveAsync(socket, _maxMessageBytes).ConfigureAwait(false);
                switch (message.Kind)
                {
                    case ReceivedKind.Close:
                        return;
                    case ReceivedKind.TooBig:
                        Forget(session);
                        session.CloseByRelay(RelayCloseCodes.MessageTooBig, RejectionReason.MessageTooBig, TargetedCloseReason.MessageTooBig,
                            $"Message larger than {_maxMessageBytes} bytes");
                        await PooledMessage.DiscardUntilCloseAsync(socket).ConfigureAwait(false);
                        return;
                }

                if (!session.IsClosing
                    && HandleMessage(session, message.Memory.Span, message.Type, scratch ??= new ArrayBufferWriter<byte>(256), ref writer) is { } elsewhere)
                {
                    await SendElsewhereAsync(session, elsewhere).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            writer?.Dispose();
        }
    }

    /// <summary>
    /// Delivers a message to a target of this node, or answers TARGET_NOT_FOUND; across nodes, a target not
    /// connected here is returned (its name and the message to forward) for the caller to send through Redis.
    /// </summary>
    private (string Target, byte[] Message)? HandleMessage(TargetedSession session, ReadOnlySpan<byte> json, WebSocketMessageType type, ArrayBufferWriter<byte> scratch, ref Utf8JsonWriter? writer)
    {
        // Text frames were checked for UTF-8 by the WebSocket; a binary frame's payload is forwarded as text, so check it here.
        if ((type == WebSocketMessageType.Binary && !Utf8.IsValid(json)) || !TargetedMessages.TryParse(json, out var message))
        {
            metrics.TargetedMessage(TargetedMessageResult.Malformed);
            Log.MalformedMessage(logger, session.Username, json.Length);
            return null;
        }

        if (message.Target.Length > 0 && registry.FindActive(message.Target) is { } target)
        {
            if (Deliver(target, TargetedMessages.WriteForwarded(session.Username, message, scratch, ref writer)))
            {
                metrics.TargetedMessage(TargetedMessageResult.Delivered);
                return null;
            }
        }
        else if (message.Target.Length > 0 && _cluster is not null)
        {
            var forwarded = TargetedMessages.WriteForwarded(session.Username, message, scratch, ref writer);
            var bytes = forwarded.Payload.ToArray();
            forwarded.Release();
            return (message.Target.ToString(), bytes);
        }

        metrics.TargetedMessage(TargetedMessageResult.TargetNotFound);
        Deliver(session, TargetedMessages.TargetNotFound());
        return null;
    }

    /// <summary>A message for a user connected on another node, if any; else TARGET_NOT_FOUND, as on one node. Awaited, so the sender's messages keep their order.</summary>
    private async ValueTask SendElsewhereAsync(TargetedSession session, (string Target, byte[] Message) elsewhere)
    {
        if (await _cluster!.SendAsync(elsewhere.Target, elsewhere.Message).ConfigureAwait(false))
        {
            metrics.TargetedMessage(TargetedMessageResult.Delivered);
            return;
        }

        metrics.TargetedMessage(TargetedMessageResult.TargetNotFound);
        Deliver(session, TargetedMessages.TargetNotFound());
    }

    /// <summary>Queues a message; a session closed for a full queue is forgotten at once, so its user can reconnect while its close handshake runs.</summary>
    private bool Deliver(TargetedSession session, OutboundMessage message)
    {
        if (session.TrySend(message))
        {
            return true;
        }

        Forget(session);
        return false;
    }

    private void Forget(TargetedSession session)
    {
        registry.Disconnect(session);
        _cluster?.Disconnect(session);
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.TargetedRegistered, LogLevel.Debug, "Registered targeted-signaling user {Username}.")]
        public static partial void Registered(ILogger logger, string username);

        [LoggerMessage(RelayEventIds.TargetedRegisterRefused, LogLevel.Debug, "Refused a targeted-signaling registration with {StatusCode} {Status}: {Message}.")]
        public static partial void RegisterRefused(ILogger logger, int statusCode, string status, string message);

        [LoggerMessage(RelayEventIds.TargetedConnected, LogLevel.Debug, "Targeted-signaling user {Username} connected.")]
        public static partial void Connected(ILogger logger, string username);

        [LoggerMessage(RelayEventIds.TargetedDisconnected, LogLevel.Debug, "Targeted-signaling user {Username} disconnected (close status {CloseStatus}).")]
        public static partial void Disconnected(ILogger logger, string username, WebSocketCloseStatus? closeStatus);

        [LoggerMessage(RelayEventIds.TargetedMalformedMessage, LogLevel.Debug, "Ignored a malformed {Length}-byte targeted-signaling message from {Username}.")]
        public static partial void MalformedMessage(ILogger logger, string username, int length);

        [LoggerMessage(RelayEventIds.TargetedKicked, LogLevel.Information, "Kicked {Count} targeted-signaling sessions (closed with 4000 KICKED).")]
        public static partial void Kicked(ILogger logger, int count);

        [LoggerMessage(RelayEventIds.TargetedAdminRefused, LogLevel.Debug, "Refused an admin request from {Client} with 401: no valid bearer key.")]
        public static partial void AdminRefused(ILogger logger, string? client);

        [LoggerMessage(RelayEventIds.TargetedSocketFailed, LogLevel.Debug, "The targeted-signaling socket of {Username} failed.")]
        public static partial void SocketFailed(ILogger logger, string username, Exception exception);

        [LoggerMessage(RelayEventIds.TargetedUserUnknown, LogLevel.Debug, "Answered /v1/user with 401: no valid session cookie.")]
        public static partial void UserUnknown(ILogger logger);
    }
}
