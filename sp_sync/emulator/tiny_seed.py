"""A small seed for the emulator's own tests: one site, three lists (incl. person and lookup
columns), a few users and the DTC mailbox."""

from __future__ import annotations

from typing import Any


def tiny_seed() -> dict[str, Any]:
    users = [
        {"id": 7, "name": "Anna Becker", "email": "anna.becker@mannheim.de"},
        {"id": 8, "name": "Jonas Weber", "email": "jonas.weber@mannheim.de"},
        {"id": 9, "name": "Lea Schäfer", "email": "lea.schaefer@mannheim.de"},
    ]
    themen = {
        "displayName": "Themen",
        "columns": [],
        "items": [
            {"fields": {"Title": "Digitale Verwaltung"}, "createdBy": "anna.becker@mannheim.de"},
            {"fields": {"Title": "Smart City"}, "createdBy": "anna.becker@mannheim.de"},
        ],
    }
    projekte = {
        "displayName": "Projekte",
        "columns": [
            {
                "name": "Status",
                "displayName": "Status",
                "indexed": True,
                "choice": {"choices": ["Idee", "Umsetzung", "Abgeschlossen"]},
            },
            {"name": "Verantwortlich", "displayName": "Verantwortlich", "personOrGroup": {}},
            {
                "name": "Thema",
                "displayName": "Thema",
                "lookup": {"listId": "Themen", "columnName": "Title"},
            },
            {"name": "Budget", "displayName": "Budget", "currency": {"locale": "de-DE"}},
            {
                "name": "N_x00e4_chster_x0020_Meilenstein",
                "displayName": "Nächster Meilenstein",
                "dateTime": {"format": "dateOnly"},
            },
            {"name": "Aktiv", "displayName": "Aktiv", "boolean": {}},
        ],
        "items": [
            {
                "fields": {
                    "Title": "E-Akte",
                    "Status": "Umsetzung",
                    "VerantwortlichLookupId": "7",
                    "ThemaLookupId": "1",
                    "Budget": 120000.0,
                    "Aktiv": True,
                    "N_x00e4_chster_x0020_Meilenstein": "2026-11-30T23:00:00Z",
                },
                "createdBy": "anna.becker@mannheim.de",
                "modifiedBy": "jonas.weber@mannheim.de",
                "created": "2026-10-01T08:00:00Z",
                "modified": "2026-11-20T09:30:00Z",
            },
            {
                "fields": {
                    "Title": "Bürgerportal",
                    "Status": "Idee",
                    "VerantwortlichLookupId": "8",
                    "ThemaLookupId": "1",
                    "Budget": 50000.0,
                    "Aktiv": False,
                },
                "createdBy": "jonas.weber@mannheim.de",
            },
            {
                "fields": {
                    "Title": "Sensorik Parkplätze",
                    "Status": "Abgeschlossen",
                    "VerantwortlichLookupId": "9",
                    "ThemaLookupId": "2",
                    "Aktiv": True,
                },
                "createdBy": "lea.schaefer@mannheim.de",
            },
        ],
    }
    aufgaben = {
        "displayName": "Aufgaben",
        "columns": [
            {
                "name": "Projekt",
                "displayName": "Projekt",
                "lookup": {"listId": "Projekte", "columnName": "Title"},
            },
            {"name": "F_x00e4_llig", "displayName": "Fällig", "dateTime": {"format": "dateOnly"}},
            {"name": "Erledigt", "displayName": "Erledigt", "boolean": {}},
        ],
        "items": [
            {
                "fields": {"Title": "Lastenheft", "ProjektLookupId": "1", "Erledigt": False},
                "createdBy": "anna.becker@mannheim.de",
            },
        ],
    }
    return {
        "hostname": "mannheim.sharepoint.com",
        "sites": [
            {
                "path": "sites/dtc",
                "displayName": "Digital Transformation Center",
                "lists": [themen, projekte, aufgaben],
            }
        ],
        "users": users,
        "mailboxes": ["dtc@mannheim.de"],
    }
