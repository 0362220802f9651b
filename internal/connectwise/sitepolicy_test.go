package connectwise

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// Where an address is allowed: everywhere, only with the development
// switch, or never.
const (
	public = iota
	loopbackOnly
	never
)

// siteAddresses are hosts as they appear in a site URL (url.URL.Hostname).
// Nothing here is connected to: the guard is a pure function.
var siteAddresses = []struct {
	host  string
	allow int
	why   string // part of the reason, when refused
}{
	// public
	{"8.8.8.8", public, ""},
	{"52.94.76.1", public, ""},
	{"100.63.255.255", public, ""}, // just below 100.64/10
	{"100.128.0.0", public, ""},    // just above
	{"172.15.255.255", public, ""},
	{"172.32.0.0", public, ""},
	{"169.253.255.255", public, ""},
	{"11.0.0.1", public, ""},
	{"2606:4700:4700::1111", public, ""},
	{"2001:4860:4860::8888", public, ""},
	{"::ffff:8.8.8.8", public, ""},
	{"64:ff9b::808:808", public, ""}, // NAT64 of 8.8.8.8
	{"2002:808:808::1", public, ""},  // 6to4 of 8.8.8.8
	{"api-na.myconnectwise.net", public, ""},
	{"API-EU.MyConnectWise.net.", public, ""},
	{"cw.example.com", public, ""},
	{"localhost.example.com", public, ""},
	{"xn--mnchen-3ya.example", public, ""},
	// a name is judged by what it resolves to, at dial time
	{"metadata.google.internal", public, ""},

	// loopback: only with SitePolicy.AllowLoopback
	{"127.0.0.1", loopbackOnly, "loopback"},
	{"127.255.255.254", loopbackOnly, "loopback"},
	{"::1", loopbackOnly, "loopback"},
	{"::ffff:127.0.0.1", loopbackOnly, "loopback"},
	{"localhost", loopbackOnly, "loopback"},
	{"LocalHost.", loopbackOnly, "loopback"},
	{"api.localhost", loopbackOnly, "loopback"},

	// never
	{"0.0.0.0", never, "unspecified"},
	{"0.1.2.3", never, "unspecified"},
	{"::", never, "unspecified"},
	{"::ffff:0.0.0.0", never, "unspecified"},
	{"10.0.0.1", never, "private"},
	{"172.16.0.1", never, "private"},
	{"172.31.255.255", never, "private"},
	{"192.168.1.1", never, "private"},
	{"::ffff:10.1.2.3", never, "private"},
	{"169.254.169.254", never, "link-local"}, // AWS, GCP, Azure metadata
	{"169.254.170.2", never, "link-local"},   // ECS task metadata
	{"::ffff:169.254.169.254", never, "link-local"},
	{"::ffff:a9fe:a9fe", never, "link-local"},
	{"fd00:ec2::254", never, "unique local"}, // EC2 metadata over IPv6
	{"fc00::1", never, "unique local"},
	{"fe80::1", never, "link-local"},
	{"fe80::a9fe:a9fe%eth0", never, "zone"},
	{"2001:4860::1%eth0", never, "zone"},
	{"100.64.0.1", never, "carrier-grade NAT"},
	{"100.100.100.200", never, "carrier-grade NAT"}, // Alibaba Cloud metadata
	{"100.127.255.255", never, "carrier-grade NAT"},
	{"224.0.0.1", never, "multicast"},
	{"239.255.255.250", never, "multicast"},
	{"ff02::1", never, "multicast"},
	{"255.255.255.255", never, "broadcast"},
	{"240.0.0.1", never, "reserved"},
	{"192.0.0.170", never, "IETF"},
	{"192.0.2.10", never, "documentation"},
	{"198.18.0.1", never, "benchmarking"},
	{"2001:db8::1", never, "documentation"},
	{"2001::1", never, "Teredo"},
	{"::169.254.169.254", never, "global unicast"}, // IPv4-compatible
	{"fec0::1", never, "global unicast"},           // site-local
	{"100::1", never, "global unicast"},            // discard-only
	{"64:ff9b::a9fe:a9fe", never, "169.254.169.254, a link-local"},
	{"64:ff9b::7f00:1", never, "127.0.0.1"}, // NAT64 never reaches this machine
	{"64:ff9b:1::a00:1", never, "global unicast"},
	{"2002:a9fe:a9fe::", never, "169.254.169.254"},
	{"2002:c0a8:101::1", never, "192.168.1.1, a private"},
	// not host names: some resolvers read them as IPv4 addresses
	{"127.1", never, "not a host name"},
	{"2130706433", never, "not a host name"},
	{"0x7f000001", never, "not a host name"},
	{"0x7f.0.0.1", never, "not a host name"},
	{"0177.0.0.1", never, "not a host name"},
	{"169.254.169.254.", never, "not a host name"},
	{"example.123", never, "not a host name"},
}

func TestSitePolicyHosts(t *testing.T) {
	t.Parallel()
	for _, tt := range siteAddresses {
		for _, dev := range []bool{false, true} {
			why := SitePolicy{AllowLoopback: dev}.checkHost(tt.host)
			want := tt.allow == public || tt.allow == loopbackOnly && dev
			if (why == "") != want {
				t.Errorf("AllowLoopback=%v: checkHost(%q) = %q, want allowed %v", dev, tt.host, why, want)
			}
			if why != "" && !strings.Contains(why, tt.why) {
				t.Errorf("AllowLoopback=%v: checkHost(%q) = %q, want it to say %q", dev, tt.host, why, tt.why)
			}
		}
	}
}

// TestCheckSiteURLRefusesInternalHosts: the same hosts as site URLs, as
// an operator would enter them.
func TestCheckSiteURLRefusesInternalHosts(t *testing.T) {
	t.Parallel()
	for _, tt := range siteAddresses {
		host := tt.host
		if strings.Contains(host, ":") {
			host = "[" + strings.ReplaceAll(host, "%", "%25") + "]"
		}
		for _, raw := range []string{"https://" + host, "https://" + host + ":8443/"} {
			for _, dev := range []bool{false, true} {
				got, err := CheckSiteURL(raw, SitePolicy{AllowLoopback: dev})
				want := tt.allow == public || tt.allow == loopbackOnly && dev
				if want {
					if err != nil || !strings.HasPrefix(got, "https://") {
						t.Errorf("AllowLoopback=%v: CheckSiteURL(%q) = %q, %v", dev, raw, got, err)
					}
					continue
				}
				if !errors.Is(err, ErrInvalidSiteURL) || !errors.Is(err, ErrAddressNotAllowed) || !IsPermanent(err) || IsTransient(err) {
					t.Errorf("AllowLoopback=%v: CheckSiteURL(%q) = %q, %v: want ErrInvalidSiteURL and ErrAddressNotAllowed", dev, raw, got, err)
					continue
				}
				if !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), siteExample) {
					t.Errorf("CheckSiteURL(%q): %q does not say why (%q) and what to enter", raw, err, tt.why)
				}
			}
		}
	}
}

// TestDialControl: the dial-time guard, given the addresses a resolver
// could return for any name, called directly (nothing is dialled).
func TestDialControl(t *testing.T) {
	t.Parallel()
	for _, tt := range siteAddresses {
		ip, err := netip.ParseAddr(tt.host)
		if err != nil {
			continue // a name: the dialer only ever sees addresses
		}
		addr := net.JoinHostPort(ip.String(), "443")
		for _, dev := range []bool{false, true} {
			for _, network := range []string{"tcp", "tcp4", "tcp6"} {
				err := SitePolicy{AllowLoopback: dev}.dialControl(network, addr, nil)
				want := tt.allow == public || tt.allow == loopbackOnly && dev
				if (err == nil) != want {
					t.Errorf("AllowLoopback=%v: dialControl(%s, %s) = %v, want allowed %v", dev, network, addr, err, want)
				}
				if err != nil && (!errors.Is(err, ErrAddressNotAllowed) || !errors.Is(err, ErrInvalidSiteURL) || !strings.Contains(err.Error(), tt.why)) {
					t.Errorf("dialControl(%s): %v", addr, err)
				}
			}
		}
	}
	for _, bad := range []struct{ network, addr string }{
		{"udp", "8.8.8.8:443"},
		{"tcp", "8.8.8.8"},
		{"tcp", "dns.google:443"},
		{"tcp", ":443"},
	} {
		if err := (SitePolicy{AllowLoopback: true}).dialControl(bad.network, bad.addr, nil); !errors.Is(err, ErrAddressNotAllowed) {
			t.Errorf("dialControl(%s, %s) = %v, want refused", bad.network, bad.addr, err)
		}
	}
}
