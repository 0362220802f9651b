package console

import (
	"net/url"
	"strconv"
	"strings"
)

// ticketURL is the ConnectWise PSA page of a service ticket on site (the
// partner's ConnectWise site, "https://na.myconnectwise.net" or a bare host):
// site + /v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=<id>.
// It is "" when the site is not an https URL without path or the id is not
// a positive number; the page then shows the plain ticket number.
func ticketURL(site string, id int64) string {
	if id <= 0 || site == "" {
		return ""
	}
	if !strings.Contains(site, "://") {
		site = "https://" + site
	}
	u, err := url.Parse(site)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=" + strconv.FormatInt(id, 10)
}
