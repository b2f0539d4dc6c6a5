#!/usr/bin/env python3
"""Generate the PDF and DOCX documents of the built-in sample domain.

The sample domain (``ragft/data/sample``) describes Brennock Ferries, a
fictional community-owned ferry operator. Most of its documents are plain
Markdown, text or HTML files kept in the repository as they are; the three PDF
and three DOCX documents are binary, so their text lives here and this script
writes them:

    python scripts/make_sample_docs.py            # writes into ragft/data/sample/docs
    python scripts/make_sample_docs.py --out DIR  # writes somewhere else

Requires fpdf2 (PDF, core fonts only, so every string must be latin-1) and
python-docx. Output is deterministic apart from the zip timestamps inside DOCX
files: creation dates are fixed, so re-running does not change the text.

Every paragraph is written as one block so that a QA evidence sentence never
spans two paragraphs. Keep this text consistent with the other documents and
with ``train.jsonl`` / ``test.jsonl`` when editing it.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "ragft" / "data" / "sample" / "docs"
FIXED_DATE = dt.datetime(2025, 4, 1, 9, 0, 0, tzinfo=dt.timezone.utc)

# A document is a title plus a list of blocks:
#   ("h1" | "h2" | "p", text)
#   ("bullets", [text, ...])
#   ("table", [[header, ...], [cell, ...], ...])

ANNUAL_REPORT = {
    "path": "company/annual-report-2024-extract.pdf",
    "title": "Brennock Sound Ferry Company Ltd: Annual Report 2024 (extract)",
    "blocks": [
        ("p", "This extract contains the highlights, the Chair's statement, the Chief Executive's review and the operating statistics from the Annual Report and Accounts for the year ended 31 December 2024. The full audited accounts are available from the Company Secretary at Quay House, Port Ardwell."),
        ("h2", "2024 at a glance"),
        ("table", [
            ["Measure", "2024", "2023"],
            ["Passengers carried", "1,274,000", "1,236,000"],
            ["Cars carried", "214,600", "209,800"],
            ["Commercial vehicles carried", "18,900", "18,200"],
            ["Revenue", "£48.3 million", "£45.9 million"],
            ["Operating profit", "£3.9 million", "£2.7 million"],
            ["Sailings operated", "98.6%", "98.1%"],
            ["Employees at 31 December", "412", "398"],
        ]),
        ("h2", "Chair's statement"),
        ("p", "2024 was the fiftieth year since Tomas Greer founded the company, and it was a year in which we delivered on the largest investment in our history. Passenger numbers rose by 3.1% to 1,274,000, the highest total we have ever recorded."),
        ("p", "Revenue for the year was £48.3 million, including the public service subsidy of £11.2 million paid by Brennock Islands Council, and the operating profit was £3.9 million. In line with our ownership model, no dividend is paid for 2024; the whole surplus is reinvested in the fleet and the piers."),
        ("p", "Capital expenditure was £19.7 million, most of it the final instalment for MV Brennock Dawn. I thank the Island Connectivity Fund, whose grant met 60% of the cost of the ship, and the Brennock Islands Community Trust for the loan that met the rest. Professor Callum Dree, Chair."),
        ("h2", "Chief Executive's review"),
        ("p", "The arrival of MV Brennock Dawn on route R1 in October was the highlight of the year. In her first eleven weeks she carried more than 70,000 passengers, and her battery and shore power system performed better than the builder's guarantee."),
        ("p", "Our most serious safety event of the year was the contact between MV Greylag and the linkspan at Mallow Bay on 9 August. Nobody was hurt, but the investigation showed that a maintenance record had been wrong for three years. We have corrected every interval found to be wrong across the fleet, and we have changed the way maintenance data is checked."),
        ("p", "Lost-time injuries to staff fell from seven in 2023 to four in 2024. We signed a two-year pay agreement with the Sound Maritime Workers' Union in June, which gave a 5.2% increase to most of our staff."),
        ("p", "Our priorities for 2025 are the launch of the Tidewise booking system, the tender for a replacement for MV Ardwell Lass, the preparation of MV Siskin for her mid-life refit in the winter of 2025-26, and a six-month renewable diesel trial on MV Tollan Maid. Ines Halloran, Chief Executive."),
        ("h2", "Reliability and punctuality"),
        ("p", "Of 33,410 sailings scheduled in 2024, 467 were cancelled, so 98.6% of scheduled sailings were operated. Weather caused 81% of cancellations, technical faults 12% and other causes 7%. Punctuality was 94.2%, measured as the share of sailings departing within 10 minutes of the scheduled time."),
        ("h2", "Passengers by route"),
        ("table", [
            ["Route", "Passengers 2024"],
            ["R1 Port Ardwell - Carrow Isle", "668,000"],
            ["R2 Port Ardwell - Inishmallow", "214,000"],
            ["R3 Port Ardwell - Skerrin", "301,000"],
            ["R4 Skerrin - Tollan", "91,000"],
        ]),
        ("p", "Route R1 carried 668,000 passengers in 2024, route R2 214,000, route R3 301,000 and route R4 91,000. Route R1 alone accounted for just over half of all passenger journeys."),
        ("h2", "People and environment"),
        ("p", "At 31 December 2024 the company employed 412 people: 268 at sea and 144 ashore. Staff turnover was 8.4%."),
        ("p", "Carbon dioxide emissions from the fleet were 41,800 tonnes in 2024, 6% lower than in 2023. Progress towards our target of a 30% reduction by 2030 is reported in detail in our environment strategy."),
    ],
}

GREYLAG_SHEET = {
    "path": "fleet/mv-greylag-technical-data.pdf",
    "title": "MV Greylag: Technical Data Sheet",
    "blocks": [
        ("p", "Fleet Technical Office, Port Ardwell. Sheet FT-GRY-01, revision 6, issued October 2024. This sheet summarises the main particulars of MV Greylag for crew, shore staff and contractors. It does not replace the ship's approved drawings or the planned maintenance system."),
        ("h2", "Principal particulars"),
        ("table", [
            ["Item", "Value"],
            ["Builder", "Haldane and Petrie, Dunmarrow (yard number 211)"],
            ["Delivered", "March 2015"],
            ["Length overall", "54.5 m"],
            ["Beam", "13.2 m"],
            ["Draught", "2.9 m"],
            ["Gross tonnage", "1,486"],
            ["Service speed", "12.5 knots"],
            ["Passengers / cars", "250 / 30"],
            ["Normal crew", "11"],
        ]),
        ("p", "MV Greylag was delivered by Haldane and Petrie in March 2015 as yard number 211. Her gross tonnage is 1,486 and her service speed is 12.5 knots."),
        ("h2", "Machinery"),
        ("p", "Propulsion is provided by two Volkmar D8-640 diesel engines of 640 kW each, driving twin controllable-pitch propellers. Electrical power comes from three generators of 150 kW each. Fuel capacity is 42,000 litres, and consumption at service speed is about 310 litres per hour."),
        ("h2", "Bow thruster"),
        ("p", "The bow thruster is a 180 kW electro-hydraulic tunnel thruster, needed for berthing at Mallow Bay, where the approach is shallow and exposed to south-easterly winds."),
        ("p", "The hydraulic pump that drives the bow thruster has part number KV-3318 and is made by Trelawn Hydraulics. The manufacturer's replacement interval for the KV-3318 pump is 12,000 running hours, and the pump must also be replaced after any loss of hydraulic pressure."),
        ("p", "The hydraulic oil must be sampled every 500 running hours and the filter element changed every 2,000 running hours."),
        ("h2", "Lifesaving equipment"),
        ("bullets", [
            "Four inflatable liferafts, each for 100 persons, launched from two davits.",
            "One fast rescue boat with a 40 hp outboard engine.",
            "270 adult lifejackets, 25 child lifejackets and 10 infant lifejackets.",
            "Eight lifebuoys, four of them with self-igniting lights.",
        ]),
        ("h2", "Critical spares held at Port Ardwell stores"),
        ("table", [
            ["Part", "Part number", "Quantity held"],
            ["Bow thruster hydraulic pump", "KV-3318", "2"],
            ["Bow thruster control card", "KV-2107", "1"],
            ["Steering gear solenoid valve", "SG-0415", "2"],
            ["Main engine fuel injector", "VD8-114", "8"],
        ]),
        ("p", "Since the bow-thruster incident of August 2024 the stores have held two KV-3318 pumps, so that one remains available even after a replacement has been fitted. Requests for critical spares are made to the Fleet Technical Office."),
        ("h2", "Dry-docking"),
        ("p", "MV Greylag is normally dry-docked every January at Haldane and Petrie, Dunmarrow. While she is away, MV Corran Star covers route R2."),
    ],
}

FREIGHT_GUIDE = {
    "path": "operations/freight-guide-2025.pdf",
    "title": "Freight Guide 2025: Carrying Commercial Vehicles and Goods",
    "blocks": [
        ("p", "This guide is for hauliers, farmers, builders and anyone else sending commercial vehicles, trailers or goods on Brennock Ferries. It applies from 1 April 2025 and replaces all earlier editions."),
        ("h2", "Booking"),
        ("p", "All commercial vehicles must be booked through the freight desk at Port Ardwell at least 24 hours before departure. The freight desk is open from 06:00 to 20:00 Monday to Saturday and from 08:00 to 18:00 on Sunday."),
        ("p", "Hauliers making at least 20 sailings a year may apply for a credit account. Credit account invoices are payable within 30 days."),
        ("h2", "Size and weight limits"),
        ("table", [
            ["Route", "Maximum length", "Maximum gross weight", "Maximum height"],
            ["R1 Port Ardwell - Carrow Isle", "16.5 m", "44 tonnes", "4.5 m"],
            ["R2 Port Ardwell - Inishmallow", "12.0 m", "32 tonnes", "4.5 m"],
            ["R3 Port Ardwell - Skerrin", "12.0 m", "32 tonnes", "4.5 m"],
            ["R4 Skerrin - Tollan", "10.0 m", "18 tonnes", "4.0 m"],
        ]),
        ("p", "Articulated lorries up to 16.5 metres long can be carried only on route R1. On route R4 the maximum vehicle length is 10 metres and the maximum gross weight is 18 tonnes, because of the size of MV Tollan Maid and the load limit of Tollan Jetty. The maximum axle weight on every route is 11.5 tonnes."),
        ("h2", "Rates"),
        ("p", "Commercial vehicles are charged by length. The rates per metre for a single journey are £9.80 on route R1, £14.60 on route R2, £17.20 on route R3 and £6.40 on route R4. A surcharge of 50% applies to vehicles carrying hazardous goods."),
        ("h2", "Hazardous goods"),
        ("p", "Hazardous goods, including fuel, gas cylinders, explosives for quarrying and agricultural chemicals, must be declared at least 72 hours before sailing on form DG-7. Each declaration must be approved by the Port Manager at Port Ardwell before the vehicle is accepted for shipment."),
        ("p", "Road fuel tankers are carried only on designated dangerous goods sailings. No more than two fuel tankers may be carried on one sailing, and on those sailings the number of passengers, other than drivers, is limited to 25."),
        ("h2", "Livestock"),
        ("p", "On route R3, livestock is carried only on the Wednesday freight sailing, which leaves Port Ardwell at 05:30. Livestock on other routes may be carried by arrangement with the freight desk. Every livestock vehicle is charged a disinfection fee of £25 per journey, and animals must be accompanied by a handler."),
        ("h2", "Unaccompanied trailers"),
        ("p", "Unaccompanied trailers are accepted on routes R1 and R3 only. They must be left in the freight marshalling area at least 2 hours before departure and collected within 24 hours of arrival, after which a storage charge applies."),
        ("h2", "On the vehicle deck"),
        ("p", "Drivers must follow the directions of the deck crew at all times, switch off engines and refrigeration units when parked unless a power connection has been agreed, and leave the vehicle deck once their vehicle is secured. Nobody may remain on the vehicle deck during the crossing."),
    ],
}

TRAVEL_POLICY = {
    "path": "hr/travel-and-expenses-policy.docx",
    "title": "Travel and Expenses Policy",
    "blocks": [
        ("p", "Policy owner: Chief Financial Officer. Version 4.0, effective 1 January 2025. Applies to all employees and non-executive directors who incur costs on company business."),
        ("h1", "1. Principles"),
        ("p", "Travel on company business should be necessary, planned in advance and booked at the lowest practical cost. Where a meeting can be held by video call, it should be. Staff travelling between Port Ardwell and the islands on duty should use their Crew Pass rather than claim a fare."),
        ("h1", "2. Submitting a claim"),
        ("p", "Expense claims must be submitted through the ExpenseHub system within 30 days of the expense being incurred. Claims submitted more than 90 days after the expense will not be paid. An itemised receipt is required for every expense except mileage."),
        ("h1", "3. Approval of claims"),
        ("p", "A claim with a total of up to and including £750 is approved by the claimant's line manager. Any claim with a total above £750 must be approved by the Chief Financial Officer. Claims made by the Chief Financial Officer are approved by the Chief Executive, and claims made by the Chief Executive are approved by the Chair of the Board."),
        ("p", "Approvers must not approve their own claims or claims from which they benefit, and a claim must not be split into smaller claims to avoid a higher approval level."),
        ("h1", "4. Mileage"),
        ("p", "Staff who use their own vehicle on company business are paid the following mileage rates. Travel between home and the normal place of work cannot be claimed."),
        ("table", [
            ["Vehicle", "Rate"],
            ["Car or van, first 10,000 business miles in the tax year", "45p per mile"],
            ["Car or van, after 10,000 business miles", "25p per mile"],
            ["Motorcycle", "24p per mile"],
            ["Bicycle", "20p per mile"],
            ["Passenger supplement (each colleague carried)", "5p per mile"],
        ]),
        ("p", "Cars are reimbursed at 45p per mile for the first 10,000 business miles in the tax year and 25p per mile after that."),
        ("h1", "5. Accommodation and meals"),
        ("p", "Hotel accommodation may cost up to £115 per night including breakfast, or up to £165 per night in major cities. Bookings above these limits need the prior approval of the Chief Financial Officer."),
        ("p", "For trips that include an overnight stay, staff may claim actual meal costs up to £28 per day. For day trips of more than 5 hours away from the normal place of work, staff may claim up to £9.50 per day. Alcohol cannot be claimed."),
        ("h1", "6. Rail and air travel"),
        ("p", "Rail travel is in standard class. First-class rail travel is allowed only for journeys of more than 3 hours and only with the prior approval of the budget holder. Air travel is in economy class and must be booked through the Finance travel desk."),
        ("h1", "7. Company credit cards"),
        ("p", "Company credit cards are issued to heads of department and above. Each card has a monthly limit of £3,000, and every transaction must be reconciled in ExpenseHub by the 5th working day of the following month."),
        ("h1", "8. Misuse"),
        ("p", "Knowingly submitting a false or inflated claim is treated as gross misconduct. Finance carries out a random audit of 5% of claims each quarter."),
    ],
}

SAFETY_MINUTES = {
    "path": "operations/safety-committee-minutes-2024-09.docx",
    "title": "Safety Committee: Minutes of Meeting, 17 September 2024",
    "blocks": [
        ("p", "Held in the conference room, Port Ardwell terminal building, at 14:00."),
        ("p", "Present: Captain Sorcha Venn (Chair); Niall Garrow (Designated Person Ashore); Priya Castellane (Fleet Technical Superintendent); Captain Hamish Rourke; Captain Elspeth Carn; Gideon Marsh (Port Manager); Cormac Feeney (Training Manager); Morag Tolley (safety representative, Sound Maritime Workers' Union)."),
        ("h1", "1. Follow-up to incident INC-2024-031 (MV Greylag)"),
        ("p", "The Fleet Technical Superintendent reported on the fleet-wide audit of planned maintenance intervals. By 13 September the audit had been completed for five of the six vessels. Seven intervals had been found to be set incorrectly: three on MV Greylag, two on MV Siskin and two on MV Corran Star. None of the other errors concerned equipment that had gone beyond its correct interval. All seven will be corrected by 30 September."),
        ("p", "The planned maintenance records of MV Brennock Dawn were built from the manufacturers' data in 2024 and will be checked by 27 September to complete the audit."),
        ("p", "The second spare KV-3318 hydraulic pump has been ordered and is due to arrive at Port Ardwell stores on 24 September. From now on, any change to a maintenance interval must be checked and signed by a second person."),
        ("h1", "2. Near-miss reporting"),
        ("p", "The Designated Person Ashore reported that 46 near-miss reports were received between January and August 2024, compared with 29 in the same period of 2023. The most common theme was vehicle marshalling on the car decks. The committee welcomed the increase as a sign that staff are confident to report."),
        ("h1", "3. Drills"),
        ("p", "All vessels met the requirement for an abandon-ship drill and a fire drill every 14 days, except MV Siskin, which missed one fire drill in July during a crew change. The drill was held two days late and the crewing office has changed the rota to prevent a repeat."),
        ("h1", "4. Infant lifejackets"),
        ("p", "New infant lifejackets, suitable for babies under 15 kg, are to be supplied to every vessel by 31 December 2024. MV Brennock Dawn was delivered with them already on board."),
        ("h1", "5. Bridge simulator training"),
        ("p", "A bow-thruster failure scenario will be added to the bridge simulator course. All masters and chief officers will attend the simulator at Dunmarrow Maritime College between 14 and 18 October 2024."),
        ("h1", "6. Any other business"),
        ("p", "Morag Tolley raised poor lighting on Tollan Jetty during winter evening sailings. The Chair agreed to raise it with Brennock Islands Council, which owns the jetty."),
        ("h1", "Actions"),
        ("table", [
            ["Action", "Owner", "Due"],
            ["Correct the seven maintenance intervals", "Priya Castellane", "30 September 2024"],
            ["Check MV Brennock Dawn maintenance records", "Priya Castellane", "27 September 2024"],
            ["Supply infant lifejackets to all vessels", "Gideon Marsh", "31 December 2024"],
            ["Run bow-thruster failure simulator course", "Cormac Feeney", "18 October 2024"],
            ["Raise Tollan Jetty lighting with the Council", "Sorcha Venn", "31 October 2024"],
        ]),
        ("p", "The next meeting of the Safety Committee will be held on 10 December 2024."),
    ],
}

PROCUREMENT_POLICY = {
    "path": "procurement/procurement-policy.docx",
    "title": "Procurement Policy",
    "blocks": [
        ("p", "Policy owner: Chief Financial Officer. Version 2.0, approved by the Board in July 2024. This policy applies to every purchase of goods, works or services by Brennock Ferries, whatever the source of funding."),
        ("h1", "1. Purpose"),
        ("p", "We spend public money and money that belongs to the island communities. Every purchase must give good value, be fair to suppliers and be open to scrutiny. This policy sets the rules for how quotations and tenders are obtained and who may approve a contract."),
        ("h1", "2. Thresholds"),
        ("p", "The estimated total value of a contract over its whole life, excluding VAT, determines the procedure that must be followed."),
        ("table", [
            ["Estimated value", "Procedure", "Who approves the award"],
            ["Up to and including £5,000", "One written quotation", "Budget holder"],
            ["Over £5,000 up to £50,000", "Three written quotations", "Budget holder and Procurement Manager"],
            ["Over £50,000 up to £250,000", "Formal tender", "Chief Financial Officer"],
            ["Over £250,000", "Formal tender", "Board of Directors"],
        ]),
        ("p", "For purchases up to and including £5,000 a single written quotation is enough. Purchases over £5,000 and up to £50,000 need three written quotations. Contracts over £50,000 and up to £250,000 must be awarded through a formal tender, and the award is approved by the Chief Financial Officer. Contracts over £250,000 also require a formal tender, and the award must be approved by the Board."),
        ("p", "Contracts must not be split into smaller parts to avoid a threshold."),
        ("h1", "3. Approved suppliers"),
        ("p", "The Procurement Manager maintains the approved supplier list, and every supplier on it is reviewed at least every 2 years. Suppliers of safety-critical goods and services are also assessed by the Fleet Technical Office before they are added to the list."),
        ("h1", "4. Safety-critical spares"),
        ("p", "Spare parts for propulsion, steering, thrusters and their hydraulic systems, lifesaving equipment and firefighting equipment are safety-critical. They must be original equipment manufacturer parts, or equivalents that have been approved in writing by the Fleet Technical Superintendent."),
        ("h1", "5. Local suppliers"),
        ("p", "We want our spending to support the islands. In every formal tender, 10% of the evaluation marks are allocated to local economic benefit, such as employing island residents or using island-based subcontractors."),
        ("h1", "6. Paying suppliers"),
        ("p", "Our standard payment terms are 30 days from receipt of a valid invoice. Small suppliers based on Carrow Isle, Inishmallow, Skerrin or Tollan are paid within 10 days."),
        ("h1", "7. Emergency purchases"),
        ("p", "When a vessel's safety or a lifeline service is at immediate risk, the master of the vessel or the Designated Person Ashore may authorise an emergency purchase of up to £25,000 without quotations. The purchase must be reported to the Procurement Manager within 2 working days."),
        ("h1", "8. Integrity"),
        ("p", "Anyone involved in a procurement must declare any conflict of interest before the process begins, and must follow the rules on gifts and hospitality in the Code of Conduct. Suppliers who offer gifts or inducements to influence a decision will be excluded from the tender."),
    ],
}

PDF_DOCS = [ANNUAL_REPORT, GREYLAG_SHEET, FREIGHT_GUIDE]
DOCX_DOCS = [TRAVEL_POLICY, SAFETY_MINUTES, PROCUREMENT_POLICY]


def _all_text(doc: dict) -> list[str]:
    out = [doc["title"]]
    for kind, payload in doc["blocks"]:
        if kind in ("h1", "h2", "p"):
            out.append(payload)
        elif kind == "bullets":
            out.extend(payload)
        elif kind == "table":
            out.extend(cell for row in payload for cell in row)
    return out


def write_pdf(doc: dict, out_dir: Path) -> Path:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    for text in _all_text(doc):
        text.encode("latin-1")  # core fonts: fail loudly on anything else

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(doc["title"])
    pdf.set_author("Brennock Sound Ferry Company Ltd")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()

    def para(text: str, size: float = 10.5, style: str = "", gap: float = 2.5) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    para(doc["title"], size=16, style="B", gap=4)
    for kind, payload in doc["blocks"]:
        if kind in ("h1", "h2"):
            pdf.ln(1.5)
            para(payload, size=13 if kind == "h1" else 12, style="B", gap=1.5)
        elif kind == "p":
            para(payload)
        elif kind == "bullets":
            for item in payload:
                para("- " + item, gap=1)
            pdf.ln(1.5)
        elif kind == "table":
            pdf.set_font("Helvetica", "", 9.5)
            with pdf.table(first_row_as_headings=True, line_height=5.5) as table:
                for row in payload:
                    r = table.row()
                    for cell in row:
                        r.cell(cell)
            pdf.ln(3)
        else:  # pragma: no cover - programming error
            raise ValueError(kind)

    path = out_dir / doc["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def write_docx(doc: dict, out_dir: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = doc["title"]
    d.core_properties.author = "Brennock Sound Ferry Company Ltd"
    d.core_properties.created = FIXED_DATE.replace(tzinfo=None)
    d.core_properties.modified = FIXED_DATE.replace(tzinfo=None)
    d.core_properties.last_modified_by = "Brennock Sound Ferry Company Ltd"
    d.core_properties.revision = 1

    d.add_heading(doc["title"], level=0)
    for kind, payload in doc["blocks"]:
        if kind == "h1":
            d.add_heading(payload, level=1)
        elif kind == "h2":
            d.add_heading(payload, level=2)
        elif kind == "p":
            d.add_paragraph(payload)
        elif kind == "bullets":
            for item in payload:
                d.add_paragraph(item, style="List Bullet")
        elif kind == "table":
            table = d.add_table(rows=len(payload), cols=len(payload[0]))
            table.style = "Table Grid"
            for i, row in enumerate(payload):
                for j, cell in enumerate(row):
                    table.cell(i, j).text = cell
                    if i == 0:
                        for run in table.cell(i, j).paragraphs[0].runs:
                            run.bold = True
        else:  # pragma: no cover - programming error
            raise ValueError(kind)

    path = out_dir / doc["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    d.save(str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="docs folder to write into")
    args = parser.parse_args(argv)
    out_dir: Path = args.out
    for doc in PDF_DOCS:
        print("wrote", write_pdf(doc, out_dir))
    for doc in DOCX_DOCS:
        print("wrote", write_docx(doc, out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
