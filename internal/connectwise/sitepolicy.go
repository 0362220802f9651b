package connectwise

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// ErrAddressNotAllowed matches a site whose host is, or resolved to, an
// address a ConnectWise site can never have (loopback without
// SitePolicy.AllowLoopback, private, link-local, shared, multicast,
// unspecified, ...). Such an error also matches ErrInvalidSiteURL.
var ErrAddressNotAllowed = errors.New("connectwise: the site's address is not a public internet address")

// SitePolicy says which hosts a ConnectWise site may be. ConnectWise sites
// are public internet hosts, so the zero value, the policy of every
// deployment, refuses every other address:
//
//   - loopback: 127.0.0.0/8, ::1 and the names localhost and *.localhost,
//     unless AllowLoopback is set;
//   - always: private (10/8, 172.16/12, 192.168/16, fc00::/7 unique local,
//     which holds the EC2 metadata service fd00:ec2::254), link-local
//     (169.254/16, which holds the cloud metadata services, and fe80::/10),
//     shared carrier-grade NAT (100.64/10), multicast, unspecified (0.0.0.0,
//     ::) and the other special-purpose ranges of the IANA registries
//     (0/8, 192.0.0/24, documentation, benchmarking, 240/4 and broadcast;
//     any IPv6 address outside global unicast 2000::/3, and the tunnelling
//     prefixes inside it). IPv4 addresses inside IPv6 (::ffff:a.b.c.d,
//     NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address;
//     an address with a zone (fe80::1%eth0) is refused.
//
// CheckSiteURL applies it to the literal host of a site URL; the transport
// of NewHTTPClient applies it again to every address it connects to, after
// DNS resolution, so a host name that resolves to an internal address is
// refused before any connection is made.
type SitePolicy struct {
	// AllowLoopback admits loopback sites, for local development against
	// the ConnectWise simulator only. A deployment never sets it.
	// Private, link-local and unspecified addresses stay refused.
	AllowLoopback bool
}

// loopbackWhy is the reason given for a refused loopback host.
const loopbackWhy = "a loopback address (allowed only in local development, with SitePolicy.AllowLoopback)"

// checkHost applies p to the host of a site URL (url.URL.Hostname: no
// brackets, no port). It returns a short reason ("a link-local address
// ...") or "" when the host is allowed. Host names other than localhost are
// allowed here: the dial guard judges the addresses they resolve to.
func (p SitePolicy) checkHost(host string) string {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		if p.AllowLoopback {
			return ""
		}
		return loopbackWhy
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.checkIP(ip)
	}
	if numericHost(name) {
		// "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1": not a DNS name,
		// but some resolvers read it as an IPv4 address.
		return "not a host name or a dotted IPv4 address (write an address as four decimal numbers, a.b.c.d)"
	}
	return ""
}

// numericHost reports whether name's last label is a number (decimal, or
// 0x hex): never a DNS name, as top-level domains are never numeric.
func numericHost(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// Prefixes a site's address must not be in (besides the ones netip.Addr
// methods name). IPv4 ranges from the IANA IPv4 special-purpose registry that
// are not globally reachable.
var (
	v4Refused = []struct {
		prefix netip.Prefix
		why    string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (\"this network\") address"},
		{netip.MustParsePrefix("10.0.0.0/8"), "a private address (RFC 1918)"},
		{netip.MustParsePrefix("100.64.0.0/10"), "a shared carrier-grade NAT address (100.64.0.0/10), internal to a provider's network"},
		{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address (169.254.0.0/16, where cloud metadata services answer)"},
		{netip.MustParsePrefix("172.16.0.0/12"), "a private address (RFC 1918)"},
		{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment address (192.0.0.0/24)"},
		{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
		{netip.MustParsePrefix("192.168.0.0/16"), "a private address (RFC 1918)"},
		{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address (198.18.0.0/15)"},
		{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
		{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
		{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
		{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address (240.0.0.0/4)"},
	}
	v6GlobalUnicast = netip.MustParsePrefix("2000::/3")
	v6NAT64         = netip.MustParsePrefix("64:ff9b::/96")
	v66to4          = netip.MustParsePrefix("2002::/16")
	v6Refused       = []struct {
		prefix netip.Prefix
		why    string
	}{
		{netip.MustParsePrefix("2001::/23"), "an IETF special-purpose IPv6 address (2001::/23, e.g. Teredo)"},
		{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	}
)

// checkIP applies p to one address and returns why it is refused, or "".
func (p SitePolicy) checkIP(ip netip.Addr) string {
	if ip.Zone() != "" {
		return "an IPv6 address with a zone, which only local (link-local) addresses have"
	}
	if ip.Is4In6() {
		return p.checkIP(ip.Unmap())
	}
	switch {
	case ip.IsUnspecified():
		return "the unspecified address (0.0.0.0 or ::), which reaches this machine"
	case ip.IsLoopback():
		if p.AllowLoopback {
			return ""
		}
		return loopbackWhy
	case ip.IsPrivate():
		if ip.Is6() {
			return "a unique local IPv6 address (fc00::/7, where the EC2 metadata service fd00:ec2::254 answers)"
		}
		return "a private address (RFC 1918)"
	case ip.IsLinkLocalUnicast():
		if ip.Is6() {
			return "a link-local IPv6 address (fe80::/10)"
		}
		return "a link-local address (169.254.0.0/16, where cloud metadata services answer)"
	case ip.IsMulticast():
		return "a multicast address"
	}
	if ip.Is4() {
		for _, r := range v4Refused {
			if r.prefix.Contains(ip) {
				return r.why
			}
		}
		return ""
	}
	// IPv6: IPv4 inside NAT64 and 6to4 addresses is judged as IPv4, and
	// loopback there is never this machine.
	if v6NAT64.Contains(ip) || v66to4.Contains(ip) {
		b := ip.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:16]))
		if v66to4.Contains(ip) {
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if why := (SitePolicy{}).checkIP(v4); why != "" {
			return "an IPv6 address holding " + v4.String() + ", " + why
		}
		return ""
	}
	if !v6GlobalUnicast.Contains(ip) {
		return "not a global unicast IPv6 address (2000::/3)"
	}
	for _, r := range v6Refused {
		if r.prefix.Contains(ip) {
			return r.why
		}
	}
	return ""
}

// dialControl is the net.Dialer.Control of NewHTTPClient's transport: it
// refuses a connection to any address p refuses, after DNS resolution and
// before the connection is made. address is "ip:port".
func (p SitePolicy) dialControl(network, address string, _ syscall.RawConn) error {
	refuse := func(why string) error {
		return &refusedError{kind: ErrAddressNotAllowed, msg: fmt.Sprintf(
			"connectwise: refusing to connect to %s, %s: a ConnectWise site is a public internet host (check the site URL and what its name resolves to)", address, why)}
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return refuse("not a TCP connection (" + network + ")")
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return refuse("not an address")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return refuse("not an IP address")
	}
	if why := p.checkIP(ip); why != "" {
		return refuse(why)
	}
	return nil
}
