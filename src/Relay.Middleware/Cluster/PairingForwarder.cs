using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Relay.Cluster;

/// <summary>What a request says about where it comes from.</summary>
internal enum ForwardedOrigin
{
    /// <summary>A client's own request.</summary>
    Client,

    /// <summary>Forwarded by another node of this cluster, which admitted and authorized it: signed with the cluster's secret, not expired.</summary>
    Node,

    /// <summary>Claims to be forwarded but is not signed by the cluster's secret (or has expired).</summary>
    Forged,
}

/// <summary>
/// Forwards a pairing half (or a sigver peer) to the node its pairing (group) runs on with YARP's <see cref="IHttpForwarder"/>: the WebSocket
/// upgrade goes through, and from then on the bytes are copied unchanged both ways, so the pairing's node sees the
/// client's own frames (held frames, fragments, close codes and every limit are its, exactly as on one node).
/// <para>
/// Trust: the forwarding node signs the request (header <see cref="Header"/>: expiry and an HMAC-SHA256 of it and
/// the path, under the cluster's secret), replacing any such header the client sent; the receiving node serves a
/// signed request without admitting or authorizing it again, and refuses (403) one whose signature is wrong.
/// </para>
/// <para>
/// If the pairing's node vanishes (SIGKILL), YARP only sees its stream end; this node watches the frame boundaries
/// of what it copied to the client, and at a boundary (no close sent yet) sends the client a 1001 close frame itself.
/// </para>
/// </summary>
internal sealed partial class PairingForwarder : IDisposable
{
    public const string Header = "Relay-Forwarded";
    private static readonly TimeSpan Validity = TimeSpan.FromSeconds(30);
    private static readonly object OriginItem = new();
    private static readonly object SignatureItem = new();

    private readonly ClusterPairings _pairings;
    private readonly IHttpForwarder _forwarder;
    private readonly RelayOptions _options;
    private readonly TimeProvider _time;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<PairingForwarder> _logger;
    private readonly Lazy<HttpMessageInvoker> _invoker;
    private readonly ForwarderRequestConfig _config;

    public PairingForwarder(ClusterPairings pairings, IHttpForwarder forwarder, RelayOptions options, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<PairingForwarder> logger)
    {
        _pairings = pairings;
        _forwarder = forwarder;
        _options = options;
        _time = time;
        _lifetime = lifetime;
        _logger = logger;
        _invoker = new(() => new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = options.Cluster.ForwardConnectTimeout,
            ActivityHeadersPropagator = null,
        }));

        // Never shorter than the relay's own idle bounds (a wait, a stalled reader, a missed keep-alive), so the
        // pairing node ends an idle socket with its close code first; keep-alive pings keep a live tunnel active.
        // Without keep-alives, only the pairing's own maximum duration bounds it.
        var connection = options.Connection;
        var idle = options.KeepAliveInterval > TimeSpan.Zero
            ? Max(Max(connection.PendingTimeout, connection.StallTimeout), options.KeepAliveInterval + options.KeepAliveTimeout) + options.CloseTimeout
            : connection.MaxPairingDuration > TimeSpan.Zero ? connection.MaxPairingDuration + options.CloseTimeout : TimeSpan.FromDays(1);
        _config = new ForwarderRequestConfig
        {
            ActivityTimeout = Max(idle, TimeSpan.FromSeconds(100)),
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    public bool Enabled => _pairings.Enabled;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>Whether the request is a client's, another node's, or forged (checked once per request).</summary>
    public ForwardedOrigin OriginOf(HttpContext context)
    {
        if (!Enabled)
        {
            return ForwardedOrigin.Client;
        }

        if (context.Items.TryGetValue(OriginItem, out var known))
        {
            return (ForwardedOrigin)known!;
        }

        var origin = !context.Request.Headers.TryGetValue(Header, out var values)
            ? ForwardedOrigin.Client
            : IsSigned(values.ToString(), context.Request.Path) ? ForwardedOrigin.Node : ForwardedOrigin.Forged;
        context.Items[OriginItem] = origin;
        if (origin == ForwardedOrigin.Forged)
        {
            _pairings.Node.Metrics.Forward(ClusterForwardResult.Refused);
            Log.Forged(_logger, context.Connection.RemoteIpAddress?.ToString());
        }
        else if (origin == ForwardedOrigin.Node)
        {
            _pairings.Node.Metrics.Forward(ClusterForwardResult.Accepted);
        }

        return origin;
    }

    /// <summary>
    /// Forwards the (admitted, authorized) request to <paramref name="url"/> and pipes it for as long as it lives.
    /// False when that node could not be reached and nothing was sent to the client: the caller takes the pairing over.
    /// With <paramref name="rawTarget"/>, the request target goes exactly as the client sent it (a sigver key is the
    /// raw path: re-encoding the decoded path could change it, e.g. <c>%c3</c> to <c>%C3</c>).
    /// </summary>
    public async Task<bool> ForwardAsync(HttpContext context, string url, bool rawTarget = false)
    {
        if (_pairings.Secret is not { } secret)
        {
            // Not yet read from Redis (a moment after start-up only): nothing to sign with. The client retries.
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync("The relay node is joining its cluster; try again.", context.RequestAborted).ConfigureAwait(false);
            return true;
        }

        context.Items[SignatureItem] = Sign(secret, _time.GetUtcNow() + Validity, context.Request.Path);
        context.Features.Get<IHttpRequestTimeoutFeature>()?.DisableTimeout();
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        var metrics = _pairings.Node.Metrics;
        var tracking = upgrade is { IsUpgradableRequest: true } ? new TrackingUpgrade(upgrade, metrics) : null;
        if (tracking is not null)
        {
            context.Features.Set<IHttpUpgradeFeature>(tracking);
        }

        ForwarderError error;
        metrics.ForwardStarted();
        try
        {
            var transformer = rawTarget ? SigningTransformer.RawTarget : SigningTransformer.Instance;
            error = await _forwarder.SendAsync(context, url, _invoker.Value, _config, transformer, _lifetime.ApplicationStopping).ConfigureAwait(false);
        }
        finally
        {
            metrics.ForwardEnded();
        }

        if (tracking?.Stream is { } stream)
        {
            await EndAsync(context, stream).ConfigureAwait(false);
            return true;
        }

        if (!context.Response.HasStarted && error is ForwarderError.Request or ForwarderError.RequestTimedOut)
        {
            // Its node did not answer (killed, not yet reaped): nothing reached the client, so serve it here.
            context.Response.Clear();
            if (upgrade is not null)
            {
                context.Features.Set(upgrade);
            }

            metrics.Forward(ClusterForwardResult.TakenOver);
            Log.TakenOver(_logger, url, error);
            return false;
        }

        // An HTTP/2 WebSocket (extended CONNECT) has no upgrade to watch: forwarded, without the 1001 on loss.
        metrics.Forward(tracking is null && error == ForwarderError.None && context.Response.StatusCode == StatusCodes.Status200OK ? ClusterForwardResult.Forwarded : ClusterForwardResult.Failed);
        return true;
    }

    /// <summary>The pipe ended: unless the pairing's node closed the socket properly, tell the client with 1001.</summary>
    private async Task EndAsync(HttpContext context, FrameTrackingStream stream)
    {
        if (stream.ServerClosed || !stream.AtServerBoundary || context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        var stopping = _lifetime.ApplicationStopping.IsCancellationRequested;
        if (!stopping)
        {
            _pairings.Node.Metrics.Forward(ClusterForwardResult.Lost);
            Log.Lost(_logger, context.Request.Path);
        }

        using var timeout = new CancellationTokenSource(_options.CloseTimeout);
        try
        {
            await stream.SendCloseAsync(1001, stopping ? "Server shutting down" : "Partner's relay node failed", timeout.Token).ConfigureAwait(false);

            // The client answers with its own close; then the request ends, and with it the connection.
            await stream.UntilClientClosedAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client is gone too, or never answered: the connection closes either way.
        }
    }

    private bool IsSigned(string value, PathString path)
    {
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        if (_pairings.Secret is not { } secret
            || dot <= 0
            || !long.TryParse(value.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var expiry))
        {
            return false;
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (expiry < now || expiry > now + (2 * (long)Validity.TotalMilliseconds))
        {
            return false;
        }

        var expected = Sign(secret, DateTimeOffset.FromUnixTimeMilliseconds(expiry), path);
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(value));
    }

    /// <summary><c>{expiry ms}.{base64url HMAC-SHA256(secret, expiry \n path)}</c>.</summary>
    internal static string Sign(byte[] secret, DateTimeOffset expiry, PathString path)
    {
        var stamp = expiry.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var mac = HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes(stamp + "\n" + path.ToString()));
        return stamp + "." + Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlEncode(mac);
    }

    public void Dispose()
    {
        if (_invoker.IsValueCreated)
        {
            _invoker.Value.Dispose();
        }
    }

    /// <summary>Copies the client's request as YARP does, with this node's signature in place of anything the client sent.</summary>
    private sealed class SigningTransformer(bool rawTarget) : HttpTransformer
    {
        public static readonly SigningTransformer Instance = new(rawTarget: false);

        public static readonly SigningTransformer RawTarget = new(rawTarget: true);

        private static readonly UriCreationOptions Verbatim = new() { DangerousDisablePathAndQueryCanonicalization = true };

        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            if (rawTarget && httpContext.Features.Get<IHttpRequestFeature>()?.RawTarget is ['/', ..] raw
                && Uri.TryCreate(destinationPrefix.TrimEnd('/') + raw, in Verbatim, out var uri))
            {
                // Path base, path and query as received, not decoded and encoded again.
                proxyRequest.RequestUri = uri;
            }

            proxyRequest.Headers.Remove(Header);
            proxyRequest.Headers.TryAddWithoutValidation(Header, (string)httpContext.Items[SignatureItem]!);
        }
    }

    /// <summary>The upgrade YARP performs towards the client, with the client's stream wrapped to watch frame boundaries.</summary>
    private sealed class TrackingUpgrade(IHttpUpgradeFeature inner, ClusterMetrics metrics) : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public FrameTrackingStream? Stream { get; private set; }

        public async Task<Stream> UpgradeAsync()
        {
            // The pairing's node accepted the socket (101): counted now, not when the pipe ends.
            metrics.Forward(ClusterForwardResult.Forwarded);
            Stream = new FrameTrackingStream(await inner.UpgradeAsync().ConfigureAwait(false));
            return Stream;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(RelayEventIds.ClusterForwardRefused, LogLevel.Debug, "Refused a forwarded pairing request from {Client} with 403: not signed by the cluster's secret.")]
        public static partial void Forged(ILogger logger, string? client);

        [LoggerMessage(RelayEventIds.ClusterForwardTakenOver, LogLevel.Information, "The node at {Url} did not answer ({Error}); its pairing is taken over here.")]
        public static partial void TakenOver(ILogger logger, string url, ForwarderError error);

        [LoggerMessage(RelayEventIds.ClusterForwardLost, LogLevel.Information, "The node piping {Path} vanished; closed the client's socket with 1001.")]
        public static partial void Lost(ILogger logger, PathString path);
    }
}

/// <summary>
/// The client's upgraded stream, watching the WebSocket frame boundaries of both directions as bytes pass (headers
/// only, no copy), so a close frame can be put in between frames once the copying has stopped.
/// </summary>
internal sealed class FrameTrackingStream(Stream inner) : Stream
{
    private FrameCursor _toClient;
    private FrameCursor _fromClient;

    /// <summary>A close frame has gone to the client.</summary>
    public bool ServerClosed => _toClient.SawClose;

    public bool AtServerBoundary => _toClient.AtBoundary;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _fromClient.Observe(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _toClient.Observe(buffer.Span);
        return inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Sends an (unmasked, server) close frame; call only at a boundary, after the copying stopped.</summary>
    public async Task SendCloseAsync(ushort code, string reason, CancellationToken cancellationToken)
    {
        var frame = new byte[4 + Encoding.UTF8.GetByteCount(reason)];
        frame[0] = 0x88;
        frame[1] = (byte)(frame.Length - 2);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), code);
        Encoding.UTF8.GetBytes(reason, frame.AsSpan(4));
        await WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads (and drops) what the client still sends until its close frame is complete or it disconnects.</summary>
    public async Task UntilClientClosedAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        while (!(_fromClient.SawClose && _fromClient.AtBoundary))
        {
            if (await ReadAsync(buffer, cancellationToken).ConfigureAwait(false) == 0)
            {
                return;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>Where a byte stream of WebSocket frames stands: inside a header, inside a payload, or between frames.</summary>
    private struct FrameCursor
    {
        private ulong _payloadLeft;
        private int _headerHave;
        private int _headerNeed;
        private byte _first;
        private byte _second;
        private ulong _length;

        public bool SawClose { get; private set; }

        public readonly bool AtBoundary => _headerHave == 0 && _payloadLeft == 0;

        public void Observe(ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                if (_payloadLeft > 0)
                {
                    var skip = (int)Math.Min(_payloadLeft, (ulong)data.Length);
                    _payloadLeft -= (ulong)skip;
                    data = data[skip..];
                    continue;
                }

                var b = data[0];
                data = data[1..];
                switch (_headerHave++)
                {
                    case 0:
                        _first = b;
                        continue;
                    case 1:
                        _second = b;
                        var length7 = b & 0x7F;
                        _length = length7 < 126 ? (ulong)length7 : 0;
                        _headerNeed = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + ((b & 0x80) != 0 ? 4 : 0);
                        break;
                    default:
                        // Extended length bytes (big-endian), then the mask key, which needs no reading.
                        var extended = (_second & 0x7F) switch { 126 => 2, 127 => 8, _ => 0 };
                        if (_headerHave <= 2 + extended)
                        {
                            _length = (_length << 8) | b;
                        }

                        break;
                }

                if (_headerHave == _headerNeed)
                {
                    SawClose |= (_first & 0x0F) == 0x8;
                    _payloadLeft = _length;
                    _headerHave = 0;
                }
            }
        }
    }
}
