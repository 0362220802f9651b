package datasync

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/efs-cw/backupbridge/internal/contract"
	"github.com/efs-cw/backupbridge/internal/partner"
	"github.com/efs-cw/backupbridge/internal/usage"
)

// MaxInvoiceDescription is ConnectWise's limit on an addition's
// invoiceDescription, in characters.
const MaxInvoiceDescription = 6000

// line is one account's line of an invoice description and the GB it adds.
type line struct {
	text string
	gb   float64
}

// InvoiceDescription returns the invoice description of the addition that
// bills svc: one line per account counted (in account id order), "name (id),
// plan: GB" for GB services and "name (id), plan" for counted machines; the
// count itself for figures the provider reports as a number (mailboxes,
// ShadowProtect licences from the usage snapshot). At most
// MaxInvoiceDescription characters: a longer list keeps its first lines and
// ends with a summary of the rest ("… and 312 more accounts, 4,210 GB").
func InvoiceDescription(svc partner.BillingService, f Figures) string {
	if f.FromSnapshot[svc] {
		return fmt.Sprintf("%s %s (as reported by the backup provider)", formatCount(f.Quantities[svc]), snapshotUnit[svc])
	}
	var lines []line
	for _, a := range f.Accounts {
		if l, ok := accountLine(svc, a); ok {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "No accounts."
	}
	return fit(lines, isGBService(svc), MaxInvoiceDescription)
}

var snapshotUnit = map[partner.BillingService]string{
	partner.BillShadowProtectServers:  "ShadowProtect server licences",
	partner.BillShadowProtectDesktops: "ShadowProtect desktop licences",
	partner.BillArchivingMailboxes:    "email archiving mailboxes",
	partner.BillFilteringMailboxes:    "email filtering mailboxes",
}

// accountLine is a's line in the description of svc, if a counts for svc.
func accountLine(svc partner.BillingService, a usage.Account) (line, bool) {
	server := a.Kind == contract.KindServer
	who := accountLabel(a) + ", " + planName(a.Plan)
	gbLine := func(gb float64, suffix string) (line, bool) {
		return line{text: who + ": " + formatGB(gb) + " GB" + suffix, gb: gb}, true
	}
	switch svc {
	case partner.BillOnlineSelectGB, partner.BillOnlineBasicGB, partner.BillOnlineBDRGB:
		if planService[a.Plan] == svc {
			return gbLine(a.OnlineGB, "")
		}
	case partner.BillLocalStorageGB:
		if a.LocalGB > 0 {
			return gbLine(a.LocalGB, " local")
		}
	case partner.BillOnlineServers, partner.BillOnlineDesktops:
		if server == (svc == partner.BillOnlineServers) {
			return line{text: who}, true
		}
	case partner.BillLocalServers, partner.BillLocalDesktops:
		if a.LocalGB > 0 && server == (svc == partner.BillLocalServers) {
			return line{text: who}, true
		}
	case partner.BillShadowProtectServers, partner.BillShadowProtectDesktops:
		if a.Plan == contract.PlanShadowProtectBDR && server == (svc == partner.BillShadowProtectServers) {
			return line{text: who}, true
		}
	}
	return line{}, false
}

// fit joins lines with newlines within limit characters, replacing the
// lines that do not fit by a summary line.
func fit(lines []line, withGB bool, limit int) string {
	// end[i] is the length of the first i lines joined.
	end := make([]int, len(lines)+1)
	for i, l := range lines {
		end[i+1] = end[i] + utf8.RuneCountInString(l.text)
		if i > 0 {
			end[i+1]++ // the newline before it
		}
	}
	if end[len(lines)] <= limit {
		return join(lines)
	}
	restGB := make([]float64, len(lines)+1) // restGB[i]: GB of lines[i:]
	for i := len(lines) - 1; i >= 0; i-- {
		restGB[i] = restGB[i+1] + lines[i].gb
	}
	for keep := len(lines) - 1; keep >= 0; keep-- {
		tail := summary(len(lines)-keep, restGB[keep], withGB)
		n := utf8.RuneCountInString(tail)
		if keep > 0 {
			n += end[keep] + 1
		}
		if n <= limit {
			return join(append(lines[:keep:keep], line{text: tail}))
		}
	}
	// Not even the summary fits (a limit far below any real one).
	return string([]rune(summary(len(lines), restGB[0], withGB))[:limit])
}

func summary(more int, gb float64, withGB bool) string {
	s := "… and " + formatThousands(strconv.Itoa(more)) + " more account"
	if more != 1 {
		s += "s"
	}
	if withGB {
		s += ", " + formatGB(gb) + " GB"
	}
	return s
}

func join(lines []line) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l.text)
	}
	return b.String()
}

// accountLabel is "name (id)", or the id alone, on one line.
func accountLabel(a usage.Account) string {
	name := oneLine(a.Name)
	if name == "" || name == a.AccountID {
		return a.AccountID
	}
	return name + " (" + a.AccountID + ")"
}

// oneLine replaces control characters (newlines included) by spaces.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s))
}

func planName(p contract.Plan) string {
	switch p {
	case contract.PlanSelect:
		return "Select"
	case contract.PlanBasic:
		return "Basic"
	case contract.PlanShadowProtectBDR:
		return "ShadowProtect BDR"
	case "":
		return "no plan"
	}
	return string(p)
}

// formatGB writes a size with at most two decimals and thousands
// separators: 4210 → "4,210", 120.456 → "120.46".
func formatGB(gb float64) string {
	s := strconv.FormatFloat(math.Round(gb*100)/100, 'f', 2, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	s = formatThousands(intPart)
	if frac != "" {
		s += "." + frac
	}
	return s
}

func formatCount(n float64) string {
	return formatThousands(strconv.FormatFloat(n, 'f', -1, 64))
}

// formatThousands puts commas into the integer digits of s.
func formatThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	if len(s) <= 3 {
		return sign + s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return sign + b.String()
}
